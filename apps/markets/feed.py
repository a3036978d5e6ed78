"""The OTC feed: the only writer of ticks and candles.

`OtcFeed.step()` ticks every market that is due, in one transaction, then
announces which markets moved (`ticks_committed`, after commit).
Market settings are re-read every few seconds, so admin edits apply to the
running feed without a restart.

The live feed's prices are unpredictable (see generator.py); `seeded=True`
replays each market's stored seed instead, for tests and reproducible runs.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.common.events import send_after_commit

from .generator import GeneratorSettings, PriceGenerator
from .models import Candle, FeedStatus, Market, Source, Tick, Timeframe
from .signals import ticks_committed

logger = logging.getLogger(__name__)


def ticks_commit(market_ids: list[int]) -> None:
    """Announce a batch of ticks once it commits: `ticks_committed`, sent by every feed."""
    send_after_commit(ticks_committed, sender=Tick, market_ids=list(market_ids))


@dataclass(frozen=True)
class OutsideFeed:
    """A market data source outside Nexus that `runfeed` runs beside the OTC feed, on its own thread.

    Apps answer `feeds_requested` with one.
    """

    name: str  # its `--source` value
    note: str  # printed once it runs; when it is off, why
    run: Callable[[Callable[[], bool]], None] | None = None  # writes ticks until should_stop(); None when off


def save_candles(candles: list[Candle]) -> None:
    """Upsert the candles a batch of ticks touched (CandleBook.add's results), each row once."""
    unique = list({id(c): c for c in candles}.values())
    Candle.objects.bulk_create(
        unique,
        update_conflicts=True,
        unique_fields=["market", "timeframe", "start"],
        update_fields=["high", "low", "close", "tick_count"],
    )


def bucket_start(moment: datetime, timeframe: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % timeframe, tz=moment.tzinfo)


class CandleBook:
    """The open candle of each market and timeframe, upserted with every tick."""

    def __init__(self):
        self.open: dict[tuple[int, int], Candle] = {}

    def add(self, market_id: int, moment: datetime, price: Decimal) -> list[Candle]:
        touched = []
        for timeframe in Timeframe.values:
            start = bucket_start(moment, timeframe)
            candle = self.open.get((market_id, timeframe))
            if candle is None or candle.start != start:
                candle = Candle.objects.filter(market_id=market_id, timeframe=timeframe, start=start).first()
            if candle is None:
                candle = Candle(
                    market_id=market_id,
                    timeframe=timeframe,
                    start=start,
                    open=price,
                    high=price,
                    low=price,
                    close=price,
                    tick_count=0,
                )
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.close = price
            candle.tick_count += 1
            self.open[(market_id, timeframe)] = candle
            touched.append(candle)
        return touched


class FeedMeter:
    """Events in the last minute (ticks written, upstream calls made), for the staff status page."""

    def __init__(self):
        self.events: dict[str, list[float]] = {}

    def add(self, name: str, count: int = 1) -> None:
        now = time.monotonic()
        self.events.setdefault(name, []).extend([now] * count)

    def last_minute(self, name: str) -> int:
        cutoff = time.monotonic() - 60
        kept = [t for t in self.events.get(name, []) if t >= cutoff]
        self.events[name] = kept
        return len(kept)


class OtcFeed:
    CONFIG_REFRESH_S = 2.0
    RETENTION_EVERY_S = 600.0
    STATUS_EVERY_S = 5.0
    # The dead-man's switch runs here too: when the worker dies, its own schedule stops with it.
    DEADMAN_EVERY_S = 60.0
    SOURCE = Source.OTC

    def __init__(self, *, clock: Callable[[], datetime] = timezone.now, seeded: bool = False):
        self.clock = clock
        self.seeded = seeded
        self.generators: dict[int, PriceGenerator] = {}
        self.markets: dict[int, Market] = {}
        self.next_due: dict[int, datetime] = {}
        self.candles = CandleBook()
        self.last_refresh = 0.0
        self.last_retention = 0.0
        self.last_status = 0.0
        self.last_deadman = time.monotonic()
        self.meter = FeedMeter()

    def refresh(self) -> None:
        markets = {m.pk: m for m in Market.objects.filter(source=Source.OTC, is_active=True)}
        for pk, market in markets.items():
            config = GeneratorSettings(
                volatility_mode=market.volatility_mode,
                trend_bias=float(market.trend_bias),
                decimals=market.decimals,
            )
            if pk not in self.generators:
                # Continue from the last stored price. Seeded, a fresh market starts
                # at its base price, so the same seed replays the same series.
                self.generators[pk] = PriceGenerator(
                    seed=market.seed + market.last_seq if self.seeded else None,
                    price=market.last_price or market.base_price,
                    settings=config,
                )
            else:
                self.generators[pk].settings = config
        for pk in set(self.generators) - set(markets):
            del self.generators[pk]
            self.next_due.pop(pk, None)
        self.markets = markets
        self.last_refresh = time.monotonic()

    def due(self, now: datetime) -> list[Market]:
        return [m for pk, m in self.markets.items() if self.next_due.get(pk, now) <= now]

    def step(self, now: datetime | None = None) -> list[Tick]:
        """Write one tick for every market that is due; returns the ticks written."""
        if time.monotonic() - self.last_refresh >= self.CONFIG_REFRESH_S or not self.markets:
            self.refresh()
        now = now or self.clock()
        due = self.due(now)
        if not due:
            return []
        ticks = []
        with transaction.atomic():
            candles = []
            for market in due:
                # The feed owns last_seq: read it fresh in case another process
                # (a previous feed) wrote since this one started.
                seq = Market.objects.filter(pk=market.pk).values_list("last_seq", flat=True).first() + 1
                price = self.generators[market.pk].next()
                ticks.append(Tick(market_id=market.pk, seq=seq, time=now, price=price))
                Market.objects.filter(pk=market.pk).update(last_seq=seq, last_price=price, last_tick_at=now)
                market.last_seq, market.last_price, market.last_tick_at = seq, price, now
                candles += self.candles.add(market.pk, now, price)
                self.next_due[market.pk] = now + timedelta(milliseconds=market.tick_interval_ms)
            Tick.objects.bulk_create(ticks)
            save_candles(candles)
            ticks_commit([t.market_id for t in ticks])
        self.meter.add("ticks", len(ticks))
        return ticks

    def report_status(self) -> None:
        """OTC prices are generated here: no upstream calls, one internal stream per active market."""
        FeedStatus.objects.update_or_create(
            source=self.SOURCE,
            defaults={
                "heartbeat_at": self.clock(),
                "markets": len(self.markets),
                "upstream_subscriptions": len(self.generators),
                "upstream_calls_last_minute": self.meter.last_minute("upstream_calls"),
                "ticks_last_minute": self.meter.last_minute("ticks"),
            },
        )
        self.last_status = time.monotonic()

    def purge_old_ticks(self) -> int:
        cutoff = self.clock() - timedelta(days=settings.NEXUS["TICK_RETENTION_DAYS"])
        deleted, _ = Tick.objects.filter(time__lt=cutoff).delete()
        self.last_retention = time.monotonic()
        return deleted

    def deadman_check(self) -> None:
        """Tell staff about a silent (or recovered) worker; a failure here never stops the ticks."""
        from apps.notifications.deadman import deadman_check

        self.last_deadman = time.monotonic()
        try:
            deadman_check()
        except Exception:
            logger.exception("dead-man's switch check failed")

    def sleep_time(self) -> float:
        if not self.next_due:
            return 0.1
        wait = (min(self.next_due.values()) - self.clock()).total_seconds()
        return min(max(wait, 0.0), self.CONFIG_REFRESH_S)

    def run_forever(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        backoff = 1.0
        while not should_stop():
            try:
                self.step()
                if time.monotonic() - self.last_retention >= self.RETENTION_EVERY_S:
                    self.purge_old_ticks()
                if time.monotonic() - self.last_status >= self.STATUS_EVERY_S:
                    self.report_status()
                if time.monotonic() - self.last_deadman >= self.DEADMAN_EVERY_S:
                    self.deadman_check()
                backoff = 1.0
                time.sleep(self.sleep_time())
            except Exception:
                logger.exception("feed step failed; retrying in %.0fs", backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
