"""Admin edits to a market reach the running feed on its next configuration refresh."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.markets.feed import OtcFeed
from apps.markets.generator import GeneratorSettings, PriceGenerator
from apps.markets.models import Market, Tick, VolatilityMode


class Clock:
    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now

    def advance(self, seconds=1.0):
        self.now += datetime.timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def running(markets):
    """A feed as `runfeed` drives it: `step()` refreshes its configuration on its own schedule."""
    clock = Clock()
    feed = OtcFeed(clock=clock, seeded=True)
    feed.step(clock.now)
    return feed, clock


def edit(market, **fields):
    """What the admin's change form does: save the edited row."""
    market = Market.objects.get(pk=market.pk)
    for name, value in fields.items():
        setattr(market, name, value)
    market.save()


def refresh_due(feed):
    feed.last_refresh -= OtcFeed.CONFIG_REFRESH_S


def ticked(ticks):
    return {t.market_id for t in ticks}


def test_a_deactivated_market_gets_no_more_ticks_after_the_next_refresh(running, markets):
    feed, clock = running
    gold = markets["OTC_GOLD"]

    edit(gold, is_active=False)
    refresh_due(feed)
    written = feed.step(clock.advance())

    assert gold.pk not in ticked(written)
    assert len(written) == len(markets) - 1
    for _ in range(5):
        refresh_due(feed)
        assert gold.pk not in ticked(feed.step(clock.advance()))
    assert Tick.objects.filter(market=gold).count() == 1


def test_an_edit_waits_for_the_refresh_interval(running, markets):
    feed, clock = running
    gold = markets["OTC_GOLD"]

    edit(gold, is_active=False)
    written = feed.step(clock.advance())

    # Within the refresh interval the feed still runs on the configuration it read.
    assert gold.pk in ticked(written)
    refresh_due(feed)
    assert gold.pk not in ticked(feed.step(clock.advance()))


def test_a_reactivated_market_resumes_its_sequence_and_price(running, markets):
    feed, clock = running
    gold = markets["OTC_GOLD"]
    feed.step(clock.advance())
    last = Market.objects.get(pk=gold.pk)
    edit(gold, is_active=False)
    refresh_due(feed)
    feed.step(clock.advance())

    edit(gold, is_active=True)
    refresh_due(feed)
    written = [t for t in feed.step(clock.advance()) if t.market_id == gold.pk]

    assert [t.seq for t in written] == [last.last_seq + 1]
    assert feed.generators[gold.pk].price == written[0].price
    assert list(Tick.objects.filter(market=gold).values_list("seq", flat=True)) == [1, 2, 3]


def test_a_volatility_change_applies_to_the_next_ticks_without_reseeding(running, markets):
    feed, clock = running
    market = Market.objects.get(pk=markets["VOL_10"].pk)
    for _ in range(4):
        feed.step(clock.advance())

    edit(market, volatility_mode=VolatilityMode.SPIKE, trend_bias=Decimal("0.50"))
    refresh_due(feed)
    for _ in range(5):
        feed.step(clock.advance())

    assert feed.generators[market.pk].settings == GeneratorSettings(
        volatility_mode="SPIKE", trend_bias=0.5, decimals=market.decimals
    )
    # The same generator carries on with the new settings: the series equals a
    # reference generator whose settings changed at the same tick.
    reference = PriceGenerator(
        seed=market.seed,
        price=market.base_price,
        settings=GeneratorSettings(volatility_mode="LOW", trend_bias=0.0, decimals=market.decimals),
    )
    expected = reference.series(5)
    reference.settings = GeneratorSettings(volatility_mode="SPIKE", trend_bias=0.5, decimals=market.decimals)
    expected += reference.series(5)
    assert list(Tick.objects.filter(market=market).order_by("seq").values_list("price", flat=True)) == expected


def test_a_decimals_change_shows_in_the_next_price(running, markets):
    feed, clock = running
    gold = markets["OTC_GOLD"]

    edit(gold, decimals=0)
    refresh_due(feed)
    written = [t for t in feed.step(clock.advance()) if t.market_id == gold.pk]

    assert written[0].price == written[0].price.quantize(Decimal("1"))


def test_a_new_market_added_in_the_admin_starts_ticking(running, markets):
    feed, clock = running
    fresh = Market.objects.create(symbol="OTC_NEW", name="New OTC", base_price=Decimal("50.000"), decimals=3, seed=99)

    refresh_due(feed)
    written = [t for t in feed.step(clock.advance()) if t.market_id == fresh.pk]

    assert [t.seq for t in written] == [1]
