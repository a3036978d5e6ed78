"""Heartbeats and queue depth, as /ready/ and the `healthcheck` command read them."""

from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf

from apps.markets.models import FeedStatus, Source

from .models import WorkerHeartbeat


def feed_sources() -> list[str]:
    """The feeds this deployment runs: OTC always, Deriv when it is enabled."""
    return [Source.OTC] + ([Source.DERIV] if settings.DERIV["ENABLED"] else [])


def feed_heartbeat_problem(source: str) -> str | None:
    """Why the feed of `source` is not alive, or None when its heartbeat is fresh."""
    limit = settings.OPS["FEED_HEARTBEAT_MAX_AGE_S"]
    beat = FeedStatus.objects.filter(source=source).values_list("heartbeat_at", flat=True).first()
    if beat is None:
        return "no heartbeat yet"
    age = (timezone.now() - beat).total_seconds()
    return f"last heartbeat {age:.0f} s ago (limit {limit:g} s)" if age > limit else None


def worker_heartbeat_problem() -> str | None:
    """Why no worker is known to run tasks, or None when the heartbeat task ran recently."""
    limit = settings.OPS["WORKER_HEARTBEAT_MAX_AGE_S"]
    beat = WorkerHeartbeat.objects.filter(cluster=Conf.CLUSTER_NAME).values_list("beat_at", flat=True).first()
    if beat is None:
        return "no heartbeat yet"
    age = (timezone.now() - beat).total_seconds()
    return f"last heartbeat {age:.0f} s ago (limit {limit:g} s)" if age > limit else None


def task_queue_depth() -> int:
    return get_broker().queue_size()


def heartbeat_problems(process: str) -> dict[str, str]:
    """{check name: problem} for the feed or the worker process; empty when all is fresh."""
    if process == "worker":
        checks = {"worker": worker_heartbeat_problem()}
    elif process == "feed":
        checks = {f"feed_{source.lower()}": feed_heartbeat_problem(source) for source in feed_sources()}
    else:
        raise ValueError(f"unknown process {process!r}")
    return {name: problem for name, problem in checks.items() if problem}
