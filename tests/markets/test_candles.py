"""Candles built by the feed match the ticks they summarise."""

import datetime
from collections import defaultdict

from apps.markets.feed import OtcFeed, bucket_start
from apps.markets.models import Candle, Market, Tick, Timeframe


def expected_candles(market, timeframe):
    buckets = defaultdict(list)
    for tick in Tick.objects.filter(market=market).order_by("seq"):
        buckets[bucket_start(tick.time, timeframe)].append(tick.price)
    return {start: (prices[0], max(prices), min(prices), prices[-1], len(prices)) for start, prices in buckets.items()}


def stored_candles(market, timeframe):
    return {
        c.start: (c.open, c.high, c.low, c.close, c.tick_count)
        for c in Candle.objects.filter(market=market, timeframe=timeframe)
    }


def only(markets, *symbols):
    """Leave only these markets active, so long runs stay quick."""
    Market.objects.exclude(symbol__in=symbols).update(is_active=False)
    return [markets[s] for s in symbols]


def test_candles_match_the_ticks_second_by_second(feed, markets):
    feed.tick(150)

    for market in markets.values():
        for timeframe in Timeframe.values:
            assert stored_candles(market, timeframe) == expected_candles(market, timeframe), (market, timeframe)


def test_candles_match_the_ticks_over_several_hours(feed, markets):
    chosen = only(markets, "VOL_100", "OTC_EUR_USD")

    feed.tick(150, seconds=97)

    for market in chosen:
        for timeframe in Timeframe.values:
            assert stored_candles(market, timeframe) == expected_candles(market, timeframe), (market, timeframe)
    assert Candle.objects.filter(market=chosen[0], timeframe=Timeframe.H1).count() >= 4


def test_a_candle_counts_every_tick_in_its_bucket(feed, markets):
    (market,) = only(markets, "VOL_25")

    feed.tick(90)

    total = sum(c.tick_count for c in Candle.objects.filter(market=market, timeframe=Timeframe.M1))
    assert total == Tick.objects.filter(market=market).count() == 91


def test_candle_starts_are_aligned_to_their_timeframe(feed, markets):
    only(markets, "VOL_10")
    feed.tick(60, seconds=67)

    for candle in Candle.objects.all():
        assert int(candle.start.timestamp()) % candle.timeframe == 0


def test_a_restarted_feed_keeps_filling_the_open_candle(feed, markets):
    feed.tick(10)
    restarted = OtcFeed(clock=lambda: feed.now)
    restarted.refresh()
    for _ in range(10):
        feed.now += datetime.timedelta(seconds=1)
        restarted.step(feed.now)

    for market in markets.values():
        for timeframe in Timeframe.values:
            assert stored_candles(market, timeframe) == expected_candles(market, timeframe)


def test_bucket_start_floors_to_the_timeframe():
    moment = datetime.datetime(2026, 3, 4, 10, 47, 31, 250_000, tzinfo=datetime.UTC)

    assert bucket_start(moment, Timeframe.M1) == moment.replace(second=0, microsecond=0)
    assert bucket_start(moment, Timeframe.M5) == moment.replace(minute=45, second=0, microsecond=0)
    assert bucket_start(moment, Timeframe.M15) == moment.replace(minute=45, second=0, microsecond=0)
    assert bucket_start(moment, Timeframe.H1) == moment.replace(minute=0, second=0, microsecond=0)
