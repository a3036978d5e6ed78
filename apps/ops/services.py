from django.utils import timezone
from django_q.conf import Conf

from .models import WorkerHeartbeat


def worker_heartbeat_beat() -> None:
    """Record that a worker of this cluster just ran a task."""
    WorkerHeartbeat.objects.update_or_create(cluster=Conf.CLUSTER_NAME, defaults={"beat_at": timezone.now()})
