"""Old ticks are purged after the retention period; everything else stays."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.markets.feed import OtcFeed
from apps.markets.models import Candle, Tick


@pytest.fixture
def now():
    return timezone.now()


def write_ticks(market, now, ages):
    Tick.objects.bulk_create(
        Tick(market=market, seq=i, time=now - age, price=Decimal("100")) for i, age in enumerate(ages, start=1)
    )


def test_only_ticks_older_than_the_retention_are_purged(markets, now, settings):
    settings.NEXUS = {**settings.NEXUS, "TICK_RETENTION_DAYS": 7}
    market = markets["VOL_10"]
    day, second = datetime.timedelta(days=1), datetime.timedelta(seconds=1)
    write_ticks(market, now, [10 * day, 7 * day + second, 7 * day, 6 * day, 0 * day])

    deleted = OtcFeed(clock=lambda: now).purge_old_ticks()

    assert deleted == 2
    assert list(Tick.objects.filter(market=market).values_list("seq", flat=True)) == [3, 4, 5]


def test_the_retention_comes_from_settings(markets, now, settings):
    settings.NEXUS = {**settings.NEXUS, "TICK_RETENTION_DAYS": 1}
    market = markets["VOL_10"]
    write_ticks(market, now, [datetime.timedelta(hours=h) for h in (30, 25, 23, 1)])

    assert OtcFeed(clock=lambda: now).purge_old_ticks() == 2
    assert Tick.objects.filter(market=market).count() == 2


def test_purging_leaves_candles_and_other_markets_recent_ticks(feed, markets, settings):
    feed.tick(3)
    candles = Candle.objects.count()
    ticks = Tick.objects.count()

    assert feed.purge_old_ticks() == 0
    assert (Candle.objects.count(), Tick.objects.count()) == (candles, ticks)


def test_purging_with_nothing_old_deletes_nothing(markets, now):
    assert OtcFeed(clock=lambda: now).purge_old_ticks() == 0
