"""The OTC feed: ticks, sequence numbers and the market's last price."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.markets.feed import OtcFeed
from apps.markets.generator import GeneratorSettings, PriceGenerator
from apps.markets.models import Market, Source, Tick
from apps.markets.signals import ticks_committed


def seqs(market):
    return list(Tick.objects.filter(market=market).order_by("seq").values_list("seq", flat=True))


def test_every_active_otc_market_gets_one_tick_per_step(feed, markets):
    written = feed.tick()

    assert sorted(t.market_id for t in written) == sorted(m.pk for m in markets.values())


def test_each_market_gets_contiguous_sequence_numbers_from_one(feed, markets):
    feed.tick(20)

    for market in markets.values():
        assert seqs(market) == list(range(1, 22))


def test_the_market_row_carries_the_last_tick(feed, markets):
    feed.tick(5)

    for market in Market.objects.all():
        last = Tick.objects.filter(market=market).order_by("-seq").first()
        assert (market.last_seq, market.last_price, market.last_tick_at) == (last.seq, last.price, last.time)


def test_ticks_are_stamped_with_the_feeds_clock(feed, markets):
    feed.tick(3, seconds=2.5)

    times = list(Tick.objects.filter(market=markets["VOL_10"]).order_by("seq").values_list("time", flat=True))
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [datetime.timedelta(seconds=2.5)] * 3
    assert times[-1] == feed.now


def test_a_fresh_market_replays_its_seeded_series(feed, markets):
    feed.tick(30)

    for market in markets.values():
        expected = PriceGenerator(
            seed=market.seed,
            price=market.base_price,
            settings=GeneratorSettings(
                volatility_mode=market.volatility_mode, trend_bias=float(market.trend_bias), decimals=market.decimals
            ),
        ).series(31)
        assert list(Tick.objects.filter(market=market).order_by("seq").values_list("price", flat=True)) == expected


def test_inactive_and_deriv_markets_get_no_ticks(markets):
    Market.objects.filter(symbol="VOL_50").update(is_active=False)
    deriv = Market.objects.create(symbol="R_100", name="Deriv R_100", source=Source.DERIV, base_price=Decimal("1000"))
    now = timezone.now()

    written = OtcFeed(clock=lambda: now).step(now)

    ticked = {t.market_id for t in written}
    assert markets["VOL_50"].pk not in ticked and deriv.pk not in ticked
    assert len(ticked) == len(markets) - 1


def test_a_restarted_feed_continues_each_markets_sequence_and_price(feed, markets):
    feed.tick(4)
    before = {m.pk: (m.last_seq, m.last_price) for m in Market.objects.all()}

    restarted = OtcFeed(clock=lambda: feed.now)
    restarted.refresh()

    assert {pk: g.price for pk, g in restarted.generators.items()} == {pk: p for pk, (_, p) in before.items()}
    written = restarted.step(feed.now + datetime.timedelta(seconds=1))
    assert {t.market_id: t.seq for t in written} == {pk: seq + 1 for pk, (seq, _) in before.items()}
    for market in markets.values():
        assert seqs(market) == list(range(1, 7))


def test_a_slower_market_ticks_at_its_own_interval(feed, markets):
    Market.objects.filter(pk=markets["OTC_GOLD"].pk).update(tick_interval_ms=5000)

    feed.tick(11)

    assert len(seqs(markets["OTC_GOLD"])) == 1 + 3
    assert len(seqs(markets["OTC_EUR_USD"])) == 1 + 11


def test_nothing_is_written_when_no_market_is_due(feed, markets):
    count = Tick.objects.count()

    assert feed.step(feed.now) == []
    assert Tick.objects.count() == count


def test_ticks_committed_says_which_markets_ticked_after_commit(feed, markets):
    heard = []

    def listener(sender, market_ids, **kwargs):
        heard.append(market_ids)

    ticks_committed.connect(listener)
    try:
        feed.tick()
    finally:
        ticks_committed.disconnect(listener)

    assert len(heard) == 1
    assert sorted(heard[0]) == sorted(m.pk for m in markets.values())


def test_a_failing_receiver_does_not_stop_the_others(feed, markets, caplog):
    heard = []

    def broken(sender, market_ids, **kwargs):
        raise RuntimeError("receiver down")

    def listener(sender, market_ids, **kwargs):
        heard.append(market_ids)

    ticks_committed.connect(broken)
    ticks_committed.connect(listener)
    try:
        feed.tick()
    finally:
        ticks_committed.disconnect(broken)
        ticks_committed.disconnect(listener)

    assert len(heard) == 1
    assert "receiver down" in caplog.text


@pytest.mark.parametrize(("next_in", "expected"), [(0.5, 0.5), (10.0, OtcFeed.CONFIG_REFRESH_S), (-3.0, 0.0)])
def test_the_feed_sleeps_until_the_next_tick_but_no_longer_than_a_refresh(next_in, expected):
    now = timezone.now()
    f = OtcFeed(clock=lambda: now)
    f.next_due = {1: now + datetime.timedelta(seconds=next_in)}

    assert f.sleep_time() == expected
