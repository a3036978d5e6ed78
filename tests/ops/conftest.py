import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.markets.models import FeedStatus, Source
from apps.ops.models import WorkerHeartbeat
from apps.ops.selectors import worker_clusters


def feed_beat(source=Source.OTC, *, ago: float = 0.0) -> None:
    FeedStatus.objects.update_or_create(
        source=source, defaults={"heartbeat_at": timezone.now() - timedelta(seconds=ago)}
    )


def worker_beat(cluster="nexus", *, host=None, pid=None, ago: float = 0.0) -> None:
    """The heartbeat row of a qcluster process, this test's own host and pid unless told."""
    WorkerHeartbeat.objects.update_or_create(
        cluster=cluster,
        host=host or socket.gethostname(),
        pid=pid or os.getpid(),
        defaults={"beat_at": timezone.now() - timedelta(seconds=ago)},
    )


@pytest.fixture
def alive(db):
    """Every process just reported: the OTC feed's status row and each worker cluster's heartbeat here."""
    feed_beat()
    for cluster in worker_clusters():
        worker_beat(cluster)


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"
    settings.METRICS_ALLOWED_IPS = []
    return settings.METRICS_TOKEN
