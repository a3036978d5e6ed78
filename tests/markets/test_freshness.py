"""A market trades only on a fresh price: no tick within the stale window pauses it."""

import datetime

import pytest
from django.utils import timezone

from apps.markets.models import Market


@pytest.fixture
def market(markets, settings):
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 5.0}
    return Market.objects.get(symbol="VOL_10")


def ticked(market, seconds_ago):
    market.last_tick_at = timezone.now() - datetime.timedelta(seconds=seconds_ago)
    return market


def test_a_market_that_never_ticked_is_not_fresh(market):
    assert market.last_tick_at is None
    assert not market.is_fresh
    assert not market.is_tradable


def test_a_market_that_ticked_within_the_window_is_fresh_and_tradable(market):
    ticked(market, 1)

    assert market.is_fresh
    assert market.is_tradable


def test_a_market_with_no_tick_in_the_stale_window_is_not_fresh(market):
    ticked(market, 6)

    assert not market.is_fresh
    assert not market.is_tradable


def test_the_stale_window_is_three_tick_intervals_for_slow_markets(market):
    market.tick_interval_ms = 10_000

    assert market.stale_after == datetime.timedelta(seconds=30)
    assert ticked(market, 29).is_fresh
    assert not ticked(market, 31).is_fresh


def test_the_stale_window_is_the_configured_minimum_for_fast_markets(market):
    market.tick_interval_ms = 500

    assert market.stale_after == datetime.timedelta(seconds=5)


def test_an_inactive_market_is_not_tradable_even_with_a_fresh_price(market):
    ticked(market, 0).is_active = False

    assert market.is_fresh
    assert not market.is_tradable


def test_the_feeds_ticks_keep_markets_fresh(feed, markets):
    assert all(m.is_fresh for m in Market.objects.all())
