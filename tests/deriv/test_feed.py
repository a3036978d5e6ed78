"""The Deriv feed against the fake: one stream per market, ticks and candles stored like OTC ones."""

import datetime
import io
import json
import os
import signal
import threading
import time
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.deriv.errors import Disconnected
from apps.deriv.feed import DerivFeed
from apps.deriv.markets import DERIV_SYMBOLS
from apps.markets import feed as markets_feed
from apps.markets.models import Candle, FeedStatus, Market, Source, Tick, Timeframe
from apps.markets.signals import ticks_committed
from tests.fakes.deriv.fixtures import running_fake_deriv

from .conftest import wait_for

BACKFILL = 5


@pytest.fixture
def fake():
    """A fake Deriv whose frozen clock starts now, so stored ticks are as fresh as Deriv's."""
    with running_fake_deriv(clock_start=int(time.time())) as fake:
        yield fake


@pytest.fixture
def make_feed(fake, settings):
    settings.DERIV = {**settings.DERIV, "WS_PUBLIC": fake.ws_public_url, "FEED_BACKFILL_TICKS": BACKFILL}
    made = []

    def make(**options):
        options.setdefault("backoff_initial", 0.01)
        options.setdefault("backoff_max", 0.05)
        options.setdefault("ping_interval", None)
        options.setdefault("request_timeout", 3.0)
        feed = DerivFeed(**options)
        made.append(feed)
        return feed

    yield make
    for feed in made:
        feed.close()


@pytest.fixture
def feed(db, make_feed):
    """A started feed with the ten Deriv markets synced and their opening history stored."""
    feed = make_feed().start()
    pump(feed, lambda: Tick.objects.count() == BACKFILL * len(DERIV_SYMBOLS))
    return feed


def pump(feed, done, timeout=5.0):
    """Step the feed (as runfeed's loop does) until done() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        feed.step(timeout=0.02)
        if done():
            return
    raise AssertionError("the feed did not get there in time")


def stored(symbol):
    return list(Tick.objects.filter(market__symbol=symbol).order_by("seq").values_list("seq", "time", "price"))


def fake_ticks(fake, symbol):
    return fake._call(lambda: [(t.epoch, t.quote) for t in fake.series[symbol].ticks])


def epoch(moment):
    return int(moment.timestamp())


def assert_matches_deriv(fake, symbol):
    """Contiguous seqs from 1 and exactly Deriv's ticks from the first one stored: no gap, no repeat."""
    rows = stored(symbol)
    assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1))
    ticks = fake_ticks(fake, symbol)
    first = next(i for i, (e, _) in enumerate(ticks) if e == epoch(rows[0][1]))
    expected = ticks[first : first + len(rows)]
    assert [(epoch(t), p) for _, t, p in rows] == [(e, Decimal(str(q))) for e, q in expected]
    assert len(expected) == len(rows) and expected[-1] == ticks[-1]


# ---------------------------------------------------------------- streams and ticks


def test_each_active_deriv_market_is_streamed_once_with_its_recent_history(fake, feed):
    assert set(feed.subs) == set(DERIV_SYMBOLS)
    assert fake.subscription_count("public") == len(DERIV_SYMBOLS)
    requests = fake.requests("ticks_history", kind="public")
    assert sorted(r["ticks_history"] for r in requests) == sorted(DERIV_SYMBOLS)
    assert all(r["subscribe"] == 1 and r["count"] == BACKFILL and r["style"] == "ticks" for r in requests)
    for symbol in DERIV_SYMBOLS:
        assert_matches_deriv(fake, symbol)


def test_new_ticks_get_the_next_seqs_deriv_times_and_the_market_row(fake, feed):
    fake.advance(10)
    pump(feed, lambda: Market.objects.get(symbol="1HZ10V").last_seq == BACKFILL + 10)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 5)

    for symbol in DERIV_SYMBOLS:
        assert_matches_deriv(fake, symbol)
    market = Market.objects.get(symbol="R_10")
    seq, at, price = stored("R_10")[-1]
    assert (market.last_seq, market.last_tick_at, market.last_price) == (seq, at, price)
    assert epoch(at) == fake.last_tick("R_10").epoch


def test_ticks_of_several_markets_arriving_together_share_one_write(fake, feed, django_capture_on_commit_callbacks):
    fake.advance(2)

    with django_capture_on_commit_callbacks() as callbacks:
        pump(feed, lambda: Market.objects.filter(last_seq__gt=BACKFILL).count() == len(DERIV_SYMBOLS))

    assert len(callbacks) <= 2  # one window, unless the machine stalled between the frames


def test_candles_are_built_from_deriv_ticks(fake, feed):
    fake.advance(130)
    pump(feed, lambda: Market.objects.get(symbol="R_50").last_seq == BACKFILL + 65)

    rows = stored("R_50")
    by_minute = {}
    for _, at, price in rows:
        by_minute.setdefault(markets_feed.bucket_start(at, 60), []).append(price)
    candles = Candle.objects.filter(market__symbol="R_50", timeframe=Timeframe.M1).order_by("start")
    assert [c.start for c in candles] == sorted(by_minute)
    for candle in candles:
        prices = by_minute[candle.start]
        assert (candle.open, candle.high, candle.low, candle.close, candle.tick_count) == (
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            len(prices),
        )


def test_equal_consecutive_quotes_are_all_stored(fake, feed):
    fake.inject_ticks("R_100", [850.55, 850.55, 850.55])
    fake.advance(6)
    pump(feed, lambda: Market.objects.get(symbol="R_100").last_seq == BACKFILL + 3)

    assert [p for _, _, p in stored("R_100")[-3:]] == [Decimal("850.55")] * 3


def test_ticks_committed_is_sent_after_the_batch_commits(fake, feed, django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, market_ids, **kwargs):
        heard.append(market_ids)

    ticks_committed.connect(listener)
    fake.advance(1)

    with django_capture_on_commit_callbacks() as callbacks:
        pump(feed, lambda: Market.objects.filter(symbol__startswith="1HZ", last_seq=BACKFILL + 1).count() == 5)
        assert heard == []

    try:
        for run in callbacks:
            run()
    finally:
        ticks_committed.disconnect(listener)
    ticked = set(Market.objects.filter(last_seq__gt=BACKFILL).values_list("pk", flat=True))
    assert {i for batch in heard for i in batch} == ticked


def test_the_status_heartbeat_counts_streams_and_upstream_calls(fake, feed):
    feed.report_status()

    status = FeedStatus.objects.get(source=Source.DERIV)
    assert status.markets == status.upstream_subscriptions == len(DERIV_SYMBOLS)
    assert status.upstream_calls_last_minute == 2 + len(DERIV_SYMBOLS)  # active_symbols, time, one stream each
    assert status.ticks_last_minute == BACKFILL * len(DERIV_SYMBOLS)
    assert status.is_alive


# ---------------------------------------------------------------- viewers


@pytest.mark.django_db(transaction=True)
def test_many_viewers_share_one_upstream_stream_and_see_deriv_ticks(fake, make_feed, user, other_user):
    from apps.accounts.services import account_open_demo
    from apps.realtime.consumers import LiveConsumer

    for trader in (user, other_user):
        account_open_demo(user=trader)
    async_to_sync(get_channel_layer().flush)()
    feed = make_feed().start()
    pump(feed, lambda: Tick.objects.count() == BACKFILL * len(DERIV_SYMBOLS))

    async def scenario():
        viewers = []
        for n in range(6):
            comm = WebsocketCommunicator(LiveConsumer.as_asgi(), f"/ws/live/?market={'R_10' if n % 2 else 'R_25'}")
            comm.scope["user"] = user if n < 4 else other_user
            connected, _ = await comm.connect()
            assert connected
            viewers.append(comm)
        for comm in viewers:  # what a page is sent on connect, the trader's state last (however slow its render)
            while 'id="header-balance"' not in await comm.receive_from(timeout=10):
                pass
        fake.advance(2)
        await sync_to_async(pump)(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 1)
        r10 = await sync_to_async(Market.objects.get)(symbol="R_10")
        for n, comm in enumerate(viewers):
            said = await comm.receive_from(timeout=2)
            if n % 2:
                assert r10.format_price(r10.last_price) in said
        for comm in viewers:
            await comm.disconnect()

    async_to_sync(scenario)()
    assert fake.subscription_count("public") == len(DERIV_SYMBOLS)
    assert len(fake.requests("ticks_history")) == len(DERIV_SYMBOLS)
    assert len(fake.requests("ticks")) == 0


# ---------------------------------------------------------------- changes and faults


def test_switching_a_market_off_and_on_applies_without_a_restart(fake, feed):
    Market.objects.filter(symbol="R_25").update(is_active=False)
    feed.last_refresh = 0.0
    feed.step(timeout=0)

    assert "R_25" not in feed.subs
    assert fake.subscription_count("public") == len(DERIV_SYMBOLS) - 1
    assert len(fake.requests("forget")) == 1
    fake.advance(4)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 2)
    assert Market.objects.get(symbol="R_25").last_seq == BACKFILL

    Market.objects.filter(symbol="R_25").update(is_active=True)
    feed.last_refresh = 0.0
    pump(feed, lambda: Market.objects.get(symbol="R_25").last_seq == BACKFILL + 2)  # the gap, from the history
    assert fake.subscription_count("public") == len(DERIV_SYMBOLS)
    assert_matches_deriv(fake, "R_25")


def test_after_a_dropped_socket_it_resubscribes_fills_the_gap_and_resumes(fake, feed):
    fake.advance(2)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 1)

    assert fake.drop_sockets("public") == 1
    fake.advance(4)  # ticks Deriv makes while we may be away (no more than the history re-sent: BACKFILL)
    pump(feed, lambda: fake.subscription_count("public") == len(DERIV_SYMBOLS))
    fake.advance(4)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 5)
    pump(feed, lambda: Market.objects.get(symbol="1HZ10V").last_seq == BACKFILL + 10)

    assert feed.client.connections == 2
    assert len(fake.requests("ticks_history")) == 2 * len(DERIV_SYMBOLS)
    for symbol in DERIV_SYMBOLS:
        assert_matches_deriv(fake, symbol)


def test_no_tick_is_written_while_disconnected_and_the_markets_go_stale(fake, make_feed, db, monkeypatch):
    feed = make_feed(reconnect=False).start()
    fake.advance(2)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 1)
    market = Market.objects.get(symbol="R_10")
    assert market.is_tradable

    fake.drop_sockets("public")
    fake.advance(10)
    for _ in range(10):
        assert feed.step(timeout=0.02) == []

    later = market.last_tick_at + market.stale_after + datetime.timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: max(later, datetime.datetime.now(datetime.UTC)))
    market.refresh_from_db()
    assert market.last_seq == BACKFILL + 1
    assert not market.is_fresh and not market.is_tradable


def test_a_stale_market_recovers_when_deriv_streams_again_and_a_long_gap_stays_a_gap(fake, feed):
    fake.drop_sockets("public")
    fake.advance(20)  # ten R_10 ticks, more than the history re-sent on re-subscribing
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == 2 * BACKFILL)

    market = Market.objects.get(symbol="R_10")
    assert market.is_tradable
    assert epoch(market.last_tick_at) == fake.last_tick("R_10").epoch
    times = [epoch(t) for _, t, _ in stored("R_10")]
    assert times[BACKFILL] - times[BACKFILL - 1] == 2 * (BACKFILL + 1)  # seqs stay contiguous over the gap


def test_malformed_frames_are_ignored(fake, feed, caplog):
    sub = {"id": feed.subs["R_10"].id}  # routed to the R_10 stream, as far as the client can tell
    bad = [
        "not json at all",
        {"no": "msg_type"},
        {"msg_type": "tick", "tick": {"symbol": "R_10", "epoch": 1, "quote": "abc"}, "subscription": sub},
        {"msg_type": "tick", "tick": {"symbol": "R_50", "epoch": 9999999999, "quote": 1}, "subscription": sub},
        {"msg_type": "tick", "tick": "oops", "subscription": sub},
        {"msg_type": "history", "history": {"prices": [1, 2], "times": [1]}, "subscription": sub},
        {"msg_type": "tick", "tick": {"symbol": "R_10", "epoch": 9999999999, "quote": -5}, "subscription": sub},
    ]
    for frame in bad:
        fake.send_raw(frame if isinstance(frame, str) else json.dumps(frame), "public")
    for _ in range(5):
        feed.step(timeout=0.02)

    assert Market.objects.get(symbol="R_10").last_seq == BACKFILL
    assert "malformed" in caplog.text
    fake.advance(2)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 1)
    assert_matches_deriv(fake, "R_10")


def test_already_subscribed_on_resubscribe_is_recovered(fake, feed):
    fake.fail_next("ticks_history", "AlreadySubscribed")
    fake.drop_sockets("public")

    pump(feed, lambda: fake.subscription_count("public") == len(DERIV_SYMBOLS) and len(feed.subs) == 10)
    fake.advance(2)
    pump(feed, lambda: Market.objects.filter(last_seq__gt=BACKFILL).count() == len(DERIV_SYMBOLS))
    assert all(sub.active and sub.id for sub in feed.subs.values())
    for symbol in DERIV_SYMBOLS:
        assert_matches_deriv(fake, symbol)


def test_a_stream_deriv_has_under_a_lost_id_is_reset_and_streamed_once(fake, feed):
    Market.objects.filter(symbol="R_10").update(is_active=False)
    feed.last_refresh = 0.0
    feed.step(timeout=0)
    # A stream of R_10 whose answer we never matched to a subscription: Deriv keeps it, we cannot forget it by id.
    feed.client.call({"ticks_history": "R_10", "end": "latest", "count": 1, "style": "ticks", "subscribe": 1})
    Market.objects.filter(symbol="R_10").update(is_active=True)
    feed.last_refresh = 0.0

    pump(feed, lambda: len(feed.subs) == len(DERIV_SYMBOLS))

    assert fake.subscription_count("public") == len(DERIV_SYMBOLS)
    assert len(fake.requests("forget_all")) == 1
    fake.advance(2)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq > BACKFILL)
    assert_matches_deriv(fake, "R_10")


def test_a_batch_the_database_refused_is_written_with_the_next_one(fake, feed, monkeypatch):
    from django.db import OperationalError

    real = Tick.objects.bulk_create
    refusals = []

    def refuse_once(ticks, *args, **kwargs):
        if not refusals:
            refusals.append(len(ticks))
            raise OperationalError("database is locked")
        return real(ticks, *args, **kwargs)

    monkeypatch.setattr(Tick.objects, "bulk_create", refuse_once)
    fake.advance(2)
    with pytest.raises(OperationalError):
        pump(feed, lambda: False)
    fake.advance(2)
    pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 2)

    assert refusals
    for symbol in DERIV_SYMBOLS:
        assert_matches_deriv(fake, symbol)
        candles = Candle.objects.filter(market__symbol=symbol, timeframe=Timeframe.H1)
        assert sum(c.tick_count for c in candles) == Market.objects.get(symbol=symbol).last_seq


def test_a_failed_sync_is_tried_again_within_a_minute(fake, make_feed, db):
    fake.fail_next("active_symbols", "InternalError")
    feed = make_feed().start()

    assert not Market.objects.exists() and not feed.subs
    assert feed.last_sync + feed.SYMBOLS_SYNC_EVERY_S - time.monotonic() <= feed.SYNC_RETRY_S


def test_a_symbol_deriv_refuses_is_retried_later_not_every_step(fake, feed):
    Market.objects.create(symbol="R_999", name="Gone", source=Source.DERIV, base_price=Decimal("0"))
    feed.last_refresh = 0.0
    feed.step(timeout=0)
    feed.last_refresh = 0.0
    feed.step(timeout=0)

    refused = [r for r in fake.requests("ticks_history") if r["ticks_history"] == "R_999"]
    assert len(refused) == 1
    assert "R_999" not in feed.subs and feed.retry_at["R_999"] > time.monotonic()


def test_deriv_unreachable_at_start_raises_and_leaves_the_feed_unstarted(db, make_feed):
    feed = make_feed(url="ws://127.0.0.1:9/trading/v1/options/ws/public", connect_timeout=1)

    with pytest.raises(Disconnected):
        feed.start()

    assert not feed.started


def test_run_forever_syncs_streams_and_stops_when_told(fake, make_feed, db):
    feed = make_feed()
    feed.SYMBOLS_SYNC_EVERY_S = 3600
    steps = []

    def should_stop():
        steps.append(1)
        return Market.objects.filter(source=Source.DERIV, last_seq__gte=BACKFILL).count() == 10 or len(steps) > 200

    feed.run_forever(should_stop)

    assert Tick.objects.count() == BACKFILL * len(DERIV_SYMBOLS)
    assert feed.client.state == "closed"


@pytest.mark.django_db(transaction=True)
def test_runfeed_streams_deriv_beside_the_otc_feed_and_stops_on_sigterm(fake, settings, markets):
    from django.db import connection

    settings.DERIV = {
        **settings.DERIV,
        "ENABLED": True,
        "WS_PUBLIC": fake.ws_public_url,
        "FEED_BACKFILL_TICKS": BACKFILL,
    }
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def stop_once_both_feeds_wrote():
        deadline = time.monotonic() + 20
        try:
            while time.monotonic() < deadline:
                deriv = Tick.objects.filter(market__source=Source.DERIV).count()
                if deriv >= BACKFILL * len(DERIV_SYMBOLS) and Tick.objects.filter(market__source=Source.OTC).exists():
                    break
                time.sleep(0.05)
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_once_both_feeds_wrote)
    watcher.start()
    out = io.StringIO()
    try:
        call_command("runfeed", stdout=out)
    finally:
        watcher.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert "Deriv feed running" in out.getvalue() and out.getvalue().rstrip().endswith("Feed stopped.")
    assert Tick.objects.filter(market__source=Source.DERIV).count() >= BACKFILL * len(DERIV_SYMBOLS)
    assert Tick.objects.filter(market__source=Source.OTC).exists()
    assert not [t for t in threading.enumerate() if t.name == "deriv-feed"]
    wait_for(lambda: fake.socket_count("public") == 0)  # the Deriv thread closed its socket


def test_runfeed_refuses_the_deriv_source_when_deriv_is_off(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": False}

    with pytest.raises(CommandError, match="DERIV_ENABLED"):
        call_command("runfeed", "--source", "deriv")


def test_deriv_markets_are_judged_fresh_on_derivs_clock(db, settings):
    """Our clock thirty seconds ahead of Deriv's: its newest tick looks thirty seconds old to us, yet it is fresh.

    A stale window of 25 s leaves the test that long to run, on a busy machine too.
    """
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 25.0}
    with running_fake_deriv(clock_start=int(time.time()) - 30) as behind:
        settings.DERIV = {**settings.DERIV, "WS_PUBLIC": behind.ws_public_url, "FEED_BACKFILL_TICKS": BACKFILL}
        feed = DerivFeed(backoff_initial=0.01, backoff_max=0.05, ping_interval=None, request_timeout=3.0)
        try:
            feed.start()
            assert behind.requests("time")
            behind.advance(2)
            pump(feed, lambda: Market.objects.get(symbol="R_10").last_seq == BACKFILL + 1)
        finally:
            feed.close()
    market = Market.objects.get(symbol="R_10")
    assert -31_000 <= market.clock_offset_ms <= -29_000
    assert epoch(market.last_tick_at) == behind.last_tick("R_10").epoch
    assert timezone.now() - market.last_tick_at > market.stale_after  # by our clock alone: paused
    assert market.is_fresh and market.is_tradable
    market.clock_offset_ms = 0
    assert not market.is_fresh


def test_a_clock_deriv_will_not_tell_keeps_the_last_offset(fake, make_feed, db, caplog):
    feed = make_feed().start()
    measured = feed.clock_offset_ms
    fake.fail_next("time", "InternalError")
    feed.last_clock = 0.0
    feed.step(timeout=0.02)
    assert feed.clock_offset_ms == measured
    assert "cannot read Deriv's clock" in caplog.text
    assert time.monotonic() - feed.last_clock >= feed.CLOCK_EVERY_S - feed.CLOCK_RETRY_S - 1  # asked again soon
