"""Live OTC prices cannot be computed from public data; seeded runs replay exactly."""

import datetime
import random

import pytest
from django.utils import timezone

from apps.markets.feed import OtcFeed
from apps.markets.generator import GeneratorSettings, PriceGenerator
from apps.markets.models import Candle, Market, Tick


def next_prices(feed, now):
    return {t.market_id: t.price for t in feed.step(now)}


def stored_state():
    return list(Market.objects.order_by("pk").values_list("pk", "seed", "last_seq", "last_price"))


def test_two_live_feeds_from_the_same_stored_state_draw_different_next_prices(markets):
    now = timezone.now()
    OtcFeed(clock=lambda: now).step(now)
    state = stored_state()
    later = now + datetime.timedelta(seconds=1)

    first = OtcFeed(clock=lambda: later)
    second = OtcFeed(clock=lambda: later)
    first.refresh()
    second.refresh()
    # Both start from the same stored seed, sequence and price...
    assert {pk: g.price for pk, g in first.generators.items()} == {pk: g.price for pk, g in second.generators.items()}
    assert stored_state() == state

    # ...yet their next steps differ: draw twenty steps each, so equal rounding cannot hide it.
    draws_a = [first.generators[pk].series(20) for pk in sorted(first.generators)]
    draws_b = [second.generators[pk].series(20) for pk in sorted(second.generators)]
    assert draws_a != draws_b


def test_a_live_feed_does_not_follow_the_markets_public_seed(markets):
    now = timezone.now()
    written = next_prices(OtcFeed(clock=lambda: now), now)

    predicted = {}
    for market in markets.values():
        predicted[market.pk] = PriceGenerator(
            seed=market.seed,
            price=market.base_price,
            settings=GeneratorSettings(
                volatility_mode=market.volatility_mode, trend_bias=float(market.trend_bias), decimals=market.decimals
            ),
        ).next()
    # A single tick can round to the same price by chance on a coarse market; not on all of them.
    assert written != predicted


def test_a_seeded_feed_is_reproducible(markets):
    now = timezone.now()

    def run():
        Tick.objects.all().delete()
        Candle.objects.all().delete()
        Market.objects.update(last_seq=0, last_price=None, last_tick_at=None)
        feed = OtcFeed(clock=lambda: now, seeded=True)
        return [next_prices(feed, now + datetime.timedelta(seconds=i)) for i in range(5)]

    assert run() == run()


def test_the_live_generators_keep_no_seed_or_state_to_expose(markets):
    feed = OtcFeed()
    feed.refresh()

    for generator in feed.generators.values():
        assert isinstance(generator.rng, random.SystemRandom)
        with pytest.raises(NotImplementedError):
            generator.rng.getstate()
    assert feed.seeded is False
