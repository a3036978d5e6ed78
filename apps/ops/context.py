"""Who and what a log line is about: the request or task being served, and its user.

Context variables, not thread-locals: each request served by the ASGI server
runs in its own context, and django-q2's workers set them around each task
(apps.ops.receivers), so a line logged anywhere below carries them.
"""

import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
user_id: ContextVar[int | None] = ContextVar("user_id", default=None)

# An incoming X-Request-ID is kept only when it looks like an id (a proxy's
# UUID or trace id), so a client cannot write arbitrary text into our logs.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:=-]{8,128}")


def request_id_from_header(value: str | None) -> str:
    """The caller's request id when it is well-formed, else a new one."""
    if value and REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex
