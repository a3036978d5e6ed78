"""The readiness checks behind /ready/, as django-health-check checks.

The database and Redis use the library's own checks; the feed and worker
checks read their heartbeats, and the queue check asks the broker, through
apps.ops.selectors, on the request's thread (sync_to_async), as every Django
query from async code must.
"""

import abc
import dataclasses

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from . import selectors


class _DatabaseRead(HealthCheck):
    """A check whose `problem()` reads the database: a message fails it."""

    name = ""

    @abc.abstractmethod
    def problem(self) -> str | None:
        """What is wrong, in a sentence, or None when all is well."""

    async def run(self) -> None:
        try:
            problem = await sync_to_async(self.problem)()
        except DatabaseError as error:
            raise ServiceUnavailable("database unreachable") from error
        if problem:
            raise ServiceUnavailable(problem)


@dataclasses.dataclass
class FeedHeartbeat(_DatabaseRead):
    """The feed of `source` reported within FEED_HEARTBEAT_MAX_AGE_S."""

    source: str = "OTC"

    @property
    def name(self) -> str:
        return f"feed_{self.source.lower()}"

    def problem(self) -> str | None:
        return selectors.feed_heartbeat_problem(self.source)


@dataclasses.dataclass
class WorkerHeartbeat(_DatabaseRead):
    """A qcluster process of `cluster`, on any host, beat within WORKER_HEARTBEAT_MAX_AGE_S."""

    cluster: str = dataclasses.field(default_factory=lambda: selectors.worker_clusters()[0])

    @property
    def name(self) -> str:
        return selectors.worker_check_name(self.cluster)

    def problem(self) -> str | None:
        return selectors.worker_heartbeat_problem(cluster=self.cluster)


@dataclasses.dataclass
class TaskQueue(_DatabaseRead):
    """Fewer tasks wait in the broker than READY_MAX_QUEUED_TASKS."""

    name = "task_queue"

    def problem(self) -> str | None:
        depth, limit = selectors.task_queue_depth(), settings.OPS["READY_MAX_QUEUED_TASKS"]
        return f"{depth} tasks queued (limit {limit})" if depth >= limit else None

    async def run(self) -> None:
        try:
            await super().run()
        except ServiceUnavailable:
            raise
        except Exception as error:  # a Redis broker that is down
            raise ServiceUnavailable("broker unreachable") from error


def check_name(check: HealthCheck) -> str:
    """The name /ready/ shows for a check: ours carry one, the library's are named after their class."""
    return getattr(check, "name", "") or type(check).__name__.lower()
