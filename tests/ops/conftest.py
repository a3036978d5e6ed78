from datetime import timedelta

import pytest
from django.utils import timezone

from apps.markets.models import FeedStatus, Source
from apps.ops.services import worker_heartbeat_beat


def feed_beat(source=Source.OTC, *, ago: float = 0.0) -> None:
    FeedStatus.objects.update_or_create(
        source=source, defaults={"heartbeat_at": timezone.now() - timedelta(seconds=ago)}
    )


@pytest.fixture
def alive(db):
    """Every process just reported: the OTC feed's status row and the worker's heartbeat."""
    feed_beat()
    worker_heartbeat_beat()


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests"
    settings.METRICS_ALLOWED_IPS = []
    return settings.METRICS_TOKEN
