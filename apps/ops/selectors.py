"""Heartbeats and queue depth, as /ready/ and the `healthcheck` command read them."""

import socket

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


def worker_clusters() -> list[str]:
    """The deployment's django-q2 clusters: the default one, then each of ALT_CLUSTERS (backtests)."""
    return [settings.Q_CLUSTER.get("name", "default"), *settings.Q_CLUSTER.get("ALT_CLUSTERS", {})]


def worker_check_name(cluster: str) -> str:
    """`worker` for the default cluster, `worker_<cluster>` for the others."""
    return "worker" if cluster == settings.Q_CLUSTER.get("name", "default") else f"worker_{cluster}"


def worker_heartbeat_problem(*, cluster: str, host: str | None = None) -> str | None:
    """Why no qcluster process of `cluster` (on `host`, when given) is known alive, or None when one beat recently.

    The freshest row counts: a cluster runs in several containers, and a
    restarted process beats under a new pid next to its predecessor's row.
    """
    limit = settings.OPS["WORKER_HEARTBEAT_MAX_AGE_S"]
    beats = WorkerHeartbeat.objects.filter(cluster=cluster)
    if host is not None:
        beats = beats.filter(host=host)
    beat = beats.order_by("-beat_at").values_list("beat_at", flat=True).first()
    if beat is None:
        return "no heartbeat yet"
    age = (timezone.now() - beat).total_seconds()
    return f"last heartbeat {age:.0f} s ago (limit {limit:g} s)" if age > limit else None


def task_queue_depth() -> int:
    return get_broker().queue_size()


def heartbeat_problems(process: str) -> dict[str, str]:
    """{check name: problem} for the feed or the worker process running here; empty when all is fresh."""
    if process == "worker":
        # This container's own qcluster process, of the cluster Q_CLUSTER_NAME names.
        cluster = Conf.CLUSTER_NAME
        checks = {worker_check_name(cluster): worker_heartbeat_problem(cluster=cluster, host=socket.gethostname())}
    elif process == "feed":
        checks = {f"feed_{source.lower()}": feed_heartbeat_problem(source) for source in feed_sources()}
    else:
        raise ValueError(f"unknown process {process!r}")
    return {name: problem for name, problem in checks.items() if problem}
