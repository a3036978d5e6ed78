"""The Deriv feed: one public socket, one stream per active Deriv market, ticks into the markets tables.

    feed = DerivFeed()                      # settings.DERIV["WS_PUBLIC"]
    feed.run_forever(should_stop)           # what `manage.py runfeed` runs on its Deriv thread

Each active Deriv market is streamed once (`ticks_history` with `subscribe`:
the last few ticks first, then every new one), however many pages or bots
watch it: viewers join the market's channel-layer group, never Deriv. The
client reads on its own thread and only parses and queues; everything that
touches the database (ticks, candles, the market row, the status heartbeat)
runs on the thread that calls `step()`. Ticks that arrive within
BATCH_WINDOW_S go into one transaction, and the same tick listeners as the OTC
feed's (settlement, live pages, bots) run after it commits.

Deriv's own epoch is the tick's time, and a tick whose epoch is not newer than
the market's last one is a replay (the history that opens each stream, or the
one sent again after a reconnect) and is skipped; equal quotes at new epochs
are real ticks and are kept. After a dropped socket the client reconnects and
re-subscribes by itself; the history that re-opens each stream fills the gap
(up to BACKFILL_TICKS ticks). Meanwhile nothing is written, so the markets go
stale and trading on them pauses by the usual rule.

Ticks keep Deriv's epochs, so their age is judged on Deriv's clock: on connect
and every CLOCK_EVERY_S the feed asks Deriv's `time`, and writes the offset
(Deriv's clock minus ours) on each Deriv market row (`Market.clock_offset_ms`,
which `Market.is_fresh` adds to our now). A server whose clock runs a few
seconds ahead of Deriv's does not see every Deriv market as stale.
"""

import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.markets.feed import CandleBook, FeedMeter, save_candles, ticks_commit
from apps.markets.models import FeedStatus, Market, Source, Tick

from . import adapter
from .client import DerivClient, Subscription
from .errors import AlreadySubscribed, DerivError
from .markets import deriv_markets_sync

logger = logging.getLogger(__name__)

_TICK, _LOST = "tick", "lost"
_MICRO = Decimal("0.000001")  # the price columns keep six decimals


class CountingClient(DerivClient):
    """A DerivClient that counts every request it sends: calls, subscriptions, re-subscriptions, pings."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._count_lock = threading.Lock()
        self._sent_at: deque[float] = deque()
        self.requests_sent = 0

    def _send(self, request, **kwargs):
        pending = super()._send(request, **kwargs)
        with self._count_lock:
            self.requests_sent += 1
            self._sent_at.append(time.monotonic())
        return pending

    def requests_last_minute(self) -> int:
        cutoff = time.monotonic() - 60
        with self._count_lock:
            while self._sent_at and self._sent_at[0] < cutoff:
                self._sent_at.popleft()
            return len(self._sent_at)

    @property
    def live_subscriptions(self) -> int:
        """Streams Deriv has confirmed on the current socket (none while disconnected)."""
        return sum(1 for sub in self.subscriptions if sub.id is not None)


class DerivFeed:
    SOURCE = Source.DERIV
    CONFIG_REFRESH_S = 2.0  # activation changes are picked up this often
    STATUS_EVERY_S = 5.0
    BATCH_WINDOW_S = 0.1
    MAX_BATCH = 5000
    SYMBOLS_SYNC_EVERY_S = 3600.0  # Deriv's active symbols: open or closed, names, pip sizes
    SYNC_RETRY_S = 60.0
    BACKFILL_TICKS = 120
    RETRY_INITIAL_S, RETRY_MAX_S = 2.0, 300.0  # a market Deriv refused to stream is asked again after this
    CLOCK_EVERY_S, CLOCK_RETRY_S = 300.0, 30.0  # Deriv's clock is read this often (sooner after a failure)

    def __init__(
        self,
        *,
        url: str | None = None,
        client: DerivClient | None = None,
        sync_symbols: bool = True,
        **client_options,
    ):
        deriv = settings.DERIV
        self.url = url or deriv["WS_PUBLIC"]
        if client is None:
            client_options.setdefault("name", "deriv-public")
            client = CountingClient(self.url, **client_options)
        self.client = client
        self.sync_symbols = sync_symbols
        self.backfill_ticks = int(deriv.get("FEED_BACKFILL_TICKS", self.BACKFILL_TICKS))
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.markets: dict[str, Market] = {}  # active Deriv markets by symbol
        self.subs: dict[str, Subscription] = {}
        self.retry_at: dict[str, float] = {}
        self.retry_delay: dict[str, float] = {}
        self.candles = CandleBook()
        self.meter = FeedMeter()
        self._unwritten: list[tuple[str, int, Decimal]] = []
        self.started = False
        self.last_refresh = 0.0
        self.last_status = 0.0
        self.last_sync = 0.0
        self.last_clock = 0.0
        self.clock_offset_ms = 0  # Deriv's clock minus ours

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "DerivFeed":
        """Connect, sync Deriv's markets and subscribe them; raises a DerivError if Deriv is unreachable."""
        if not self.started:
            self.client.connect()
            self.started = True
            if self.sync_symbols:
                self.sync_markets()
            self.measure_clock()
        self.refresh()
        return self

    def close(self) -> None:
        self.client.close()
        self.subs.clear()

    def sync_markets(self) -> None:
        self.last_sync = time.monotonic()
        try:
            deriv_markets_sync(client=self.client)
        except DerivError as exc:
            logger.warning("Deriv markets sync failed (%s); keeping the markets as they are", exc.code)
            self.last_sync -= self.SYMBOLS_SYNC_EVERY_S - self.SYNC_RETRY_S  # try again soon, not in an hour
        self.last_refresh = 0.0  # pick the changes up at once

    def measure_clock(self) -> None:
        """Read Deriv's clock and store how far it is from ours on every Deriv market."""
        self.last_clock = time.monotonic()
        before = timezone.now().timestamp()
        try:
            answer = self.client.call({"time": 1})
            deriv_now = int(answer["time"])
        except (DerivError, KeyError, TypeError, ValueError) as exc:
            logger.warning("Deriv feed: cannot read Deriv's clock (%s); keeping the last offset", exc)
            self.last_clock -= self.CLOCK_EVERY_S - self.CLOCK_RETRY_S
            return
        after = timezone.now().timestamp()
        # Deriv answers whole seconds (its clock was somewhere in that second): compare the middles.
        self.clock_offset_ms = round((deriv_now + 0.5 - (before + after) / 2) * 1000)
        Market.objects.filter(source=Source.DERIV).update(clock_offset_ms=self.clock_offset_ms)
        if abs(self.clock_offset_ms) >= 1000:
            logger.info("Deriv feed: Deriv's clock is %+.1fs from ours", self.clock_offset_ms / 1000)

    # ------------------------------------------------------------------ subscriptions (feed thread)

    def refresh(self) -> None:
        """Re-read the active Deriv markets; stream the new ones once, forget the ones switched off."""
        self.markets = {m.symbol: m for m in Market.objects.filter(source=Source.DERIV, is_active=True)}
        self.last_refresh = time.monotonic()
        if not self.started:
            return
        for symbol in set(self.subs) - set(self.markets):
            self.client.forget(self.subs.pop(symbol))
            logger.info("Deriv feed: %s switched off, stream forgotten", symbol)
        for symbol, sub in list(self.subs.items()):
            if not sub.active:  # the stream failed; the client let it go
                del self.subs[symbol]
        if not self.client.connected:
            return  # the client re-subscribes what it has once it is back; new markets wait for that
        now = time.monotonic()
        for symbol in self.markets:
            if symbol in self.subs or self.retry_at.get(symbol, 0.0) > now:
                continue
            if not self._subscribe(symbol):
                break

    def _subscribe(self, symbol: str) -> bool:
        """Stream one market; False when the socket's streams had to be reset (subscribe again later)."""
        request = adapter.ticks_history_request(symbol, count=self.backfill_ticks, subscribe=True)
        try:
            sub = self.client.subscribe(
                request,
                functools.partial(self._on_message, symbol),
                on_error=functools.partial(self._on_stream_error, symbol),
            )
        except AlreadySubscribed:
            self._reset_streams(symbol)
            return False
        except DerivError as exc:
            delay = min(self.RETRY_MAX_S, self.retry_delay.get(symbol, self.RETRY_INITIAL_S / 2) * 2)
            self.retry_delay[symbol] = delay
            self.retry_at[symbol] = time.monotonic() + delay
            logger.warning("Deriv feed: cannot stream %s (%s); trying again in %.0fs", symbol, exc.code, delay)
            return True
        self.subs[symbol] = sub
        self.retry_at.pop(symbol, None)
        self.retry_delay.pop(symbol, None)
        return True

    def _reset_streams(self, symbol: str) -> None:
        """Deriv streams `symbol` to us under an id we no longer know (its answer was lost).

        A stream cannot be forgotten without its id, so every tick stream on the
        socket goes and each market is subscribed again, once.
        """
        logger.warning("Deriv feed: %s already streamed under an unknown id; resetting the socket's streams", symbol)
        for sub in list(self.subs.values()):
            self.client.forget(sub)
        self.subs.clear()
        try:
            self.client.call(adapter.forget_all_request("ticks"))
        except DerivError as exc:
            logger.warning("Deriv feed: forget_all failed (%s)", exc.code)
        self.last_refresh = 0.0

    # ------------------------------------------------------------------ the client's reading thread

    def _on_message(self, symbol: str, message: dict) -> None:
        """Parse and queue; no database here (this is the client's reading thread)."""
        msg_type = message.get("msg_type")
        try:
            if msg_type == "history":
                ticks = adapter.parse_history(message, symbol).ticks
            elif msg_type == "tick":
                ticks = (adapter.parse_tick(message),)
            else:
                return
        except (DerivError, TypeError, ValueError) as exc:
            logger.warning("Deriv feed: ignored a malformed %s message for %s (%s)", msg_type, symbol, exc)
            return
        for tick in ticks:
            if tick.epoch is None or tick.quote is None or tick.quote <= 0 or (tick.symbol and tick.symbol != symbol):
                logger.warning("Deriv feed: ignored a malformed tick for %s: %r", symbol, tick)
                continue
            self.inbox.put((_TICK, symbol, tick.epoch, tick.quote))

    def _on_stream_error(self, symbol: str, error: DerivError) -> None:
        self.inbox.put((_LOST, symbol, error))

    # ------------------------------------------------------------------ writing (feed thread)

    def step(self, timeout: float = 0.5) -> list[Tick]:
        """Refresh when due, wait up to `timeout` for ticks, write one batch; returns the ticks written."""
        if time.monotonic() - self.last_refresh >= self.CONFIG_REFRESH_S:
            self.refresh()
        if self.started and self.client.connected and time.monotonic() - self.last_clock >= self.CLOCK_EVERY_S:
            self.measure_clock()
        quotes = []
        for item in self._collect(timeout):
            if item[0] == _TICK:
                quotes.append(item[1:])
            else:
                _, symbol, error = item
                logger.warning("Deriv feed: the %s stream ended (%s); subscribing again", symbol, error.code)
                self.last_refresh = 0.0
        # A batch the database refused (a lock timeout, a lost connection) is tried again with the next one.
        self._unwritten += quotes
        ticks = self.write(self._unwritten) if self._unwritten else []
        self._unwritten = []
        if ticks:
            self.meter.add("ticks", len(ticks))
        if time.monotonic() - self.last_status >= self.STATUS_EVERY_S:
            self.report_status()
        return ticks

    def _collect(self, timeout: float) -> list[tuple]:
        try:
            items = [self.inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.BATCH_WINDOW_S
        while len(items) < self.MAX_BATCH:
            remaining = deadline - time.monotonic()
            try:
                items.append(self.inbox.get(timeout=remaining) if remaining > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return items

    def write(self, quotes: list[tuple[str, int, Decimal]]) -> list[Tick]:
        """Store (symbol, epoch, quote) in one transaction: the next seq per market, candles, the market row."""
        by_market: dict[int, list[tuple[int, Decimal]]] = {}
        for symbol, epoch, quote in quotes:
            market = self.markets.get(symbol)
            if market is not None:  # else switched off since: its ticks are no longer wanted
                by_market.setdefault(market.pk, []).append((epoch, quote))
        if not by_market:
            return []
        try:
            return self._write(by_market)
        except Exception:
            self.candles = CandleBook()  # its open candles may hold the refused ticks: read them back from the table
            raise

    def _write(self, by_market: dict[int, list[tuple[int, Decimal]]]) -> list[Tick]:
        ticks: list[Tick] = []
        with transaction.atomic():
            candles = []
            # The feed owns last_seq and last_tick_at: read them fresh, as OtcFeed does.
            rows = Market.objects.filter(pk__in=by_market).values_list("pk", "last_seq", "last_tick_at")
            for pk, seq, last_at in rows:
                last_epoch = int(last_at.timestamp()) if last_at else None
                fresh = []
                for epoch, quote in sorted(by_market[pk], key=lambda q: q[0]):
                    if last_epoch is not None and epoch <= last_epoch:
                        continue  # a replay: the stream's opening history, or a tick sent again after a reconnect
                    seq += 1
                    last_epoch = epoch
                    moment = datetime.fromtimestamp(epoch, tz=UTC)
                    price = quote.quantize(_MICRO) if quote.as_tuple().exponent < -6 else quote
                    fresh.append(Tick(market_id=pk, seq=seq, time=moment, price=price))
                    candles += self.candles.add(pk, moment, price)
                if fresh:
                    last = fresh[-1]
                    Market.objects.filter(pk=pk).update(
                        last_seq=last.seq,
                        last_price=last.price,
                        last_tick_at=last.time,
                        clock_offset_ms=self.clock_offset_ms,
                    )
                    ticks += fresh
            if not ticks:
                return []
            Tick.objects.bulk_create(ticks)
            save_candles(candles)
            market_ids = sorted({t.market_id for t in ticks})
            ticks_commit(market_ids)
        return ticks

    # ------------------------------------------------------------------ status and the loop

    def report_status(self) -> None:
        counting = isinstance(self.client, CountingClient)
        FeedStatus.objects.update_or_create(
            source=self.SOURCE,
            defaults={
                "heartbeat_at": timezone.now(),
                "markets": len(self.markets),
                "upstream_subscriptions": self.client.live_subscriptions if counting else len(self.subs),
                "upstream_calls_last_minute": self.client.requests_last_minute() if counting else 0,
                "ticks_last_minute": self.meter.last_minute("ticks"),
            },
        )
        self.last_status = time.monotonic()

    def run_forever(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Until should_stop(): connect (retrying with backoff while Deriv is unreachable), then step."""
        backoff = 1.0
        try:
            while not should_stop():
                try:
                    if not self.started:
                        self.start()
                        logger.info("Deriv feed streaming %d markets", len(self.subs))
                    elif self.sync_symbols and time.monotonic() - self.last_sync >= self.SYMBOLS_SYNC_EVERY_S:
                        self.sync_markets()
                    self.step()
                    backoff = 1.0
                except Exception as exc:
                    if isinstance(exc, DerivError):
                        logger.warning("Deriv feed: %s; retrying in %.0fs", exc, backoff)
                    else:
                        logger.exception("Deriv feed step failed; retrying in %.0fs", backoff)
                    connection.close_if_unusable_or_obsolete()
                    deadline = time.monotonic() + backoff
                    while time.monotonic() < deadline and not should_stop():
                        time.sleep(0.1)
                    backoff = min(backoff * 2, 30.0)
        finally:
            self.close()
