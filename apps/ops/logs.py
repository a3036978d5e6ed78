"""Log records carry the request or task they belong to and its user; JSON in production.

`LOG_FORMAT=json` (the default with DEBUG off) writes one JSON object per line
through python-json-logger; `text` keeps the plain development format. Both
get `request_id`, `task_id` and `user_id` from apps.ops.context.
"""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

from . import context

JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(user_id)s"

# Extra attributes never copied into a JSON line: Django's `django.request`
# records carry the request itself, whose text includes the query string
# (OAuth codes, tokens), and nothing below needs it.
NOT_LOGGED = ["request", "scope", "context"]


class ContextFilter(logging.Filter):
    """Adds the current request id, task id and user id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get()
        record.task_id = context.task_id.get()
        record.user_id = context.user_id.get()
        parts = [
            f"{name}={value}"
            for name, value in (("request", record.request_id), ("task", record.task_id), ("user", record.user_id))
            if value is not None
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(BaseJsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", JSON_FIELDS)
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "taskName", *NOT_LOGGED])
        super().__init__(*args, **kwargs)
