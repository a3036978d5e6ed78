from datetime import timedelta

from django.utils import timezone

from .models import WorkerHeartbeat

# A host (container) whose processes stopped beating this long ago is gone:
# its rows are deleted rather than kept failing nothing (a scaled-down worker,
# a container replaced by a new one with another host name).
WORKER_HEARTBEAT_GONE_AFTER = timedelta(days=1)


def worker_heartbeat_beat(*, cluster: str, host: str, pid: int) -> None:
    """Record that the qcluster process `pid` of `cluster` on `host` lives; forget processes gone for a day."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(cluster=cluster, host=host, pid=pid, defaults={"beat_at": now})
    WorkerHeartbeat.objects.filter(beat_at__lt=now - WORKER_HEARTBEAT_GONE_AFTER).delete()
