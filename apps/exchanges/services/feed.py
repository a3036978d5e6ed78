"""Market data: one poll per (exchange, pair, timeframe) in use, whatever the number of bots and pages reading it.

`candles_poll_all` (every minute, on the worker) asks each pair's closed
candles once through the process's one keyless ccxt client per exchange
(ccxt's rate limiter on), stores them, and hands each pair with a new candle
to the decision cycle. A pair whose poll fails, or whose last candle is too
old, is stale: its bots wait, visibly, and resume with the next good poll.
"""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.common.events import send_after_commit

from ..models import TIMEFRAME_SECONDS, Candle, Exchange, SpotBot, SpotBotStatus, SpotMarket, SpotPosition, Timeframe
from ..selectors import spot_user_ids
from ..signals import spot_changed
from ..venues import Venue, VenueError, dec

log = logging.getLogger(__name__)

# Candles asked for a pair never polled before: enough for the regime gatekeeper's warm-up.
HISTORY = 1000


def markets_load(*, exchange: str = Exchange.BINANCE) -> list[SpotMarket]:
    """Store the pairs Nexus offers (EXCHANGE_PAIRS) with the exchange's precision and minimums."""
    listed = {m["symbol"]: m for m in Venue(exchange).markets()}
    stored = []
    for symbol in settings.EXCHANGE_PAIRS:
        market = listed.get(symbol)
        if market is None:
            log.warning("%s does not list %s", exchange, symbol)
            continue
        limits = market.get("limits") or {}
        stored.append(
            SpotMarket.objects.update_or_create(
                exchange=exchange,
                symbol=symbol,
                defaults={
                    "base": market["base"],
                    "quote": market["quote"],
                    "amount_step": dec(market["precision"]["amount"]),
                    "price_step": dec(market["precision"]["price"]),
                    "min_amount": dec((limits.get("amount") or {}).get("min")),
                    "min_notional": dec((limits.get("cost") or {}).get("min")),
                    "taker_fee": dec(market.get("taker") or "0.001"),
                    "active": bool(market.get("active", True)),
                },
            )[0]
        )
    return stored


def feeds_in_use() -> list[tuple[int, str]]:
    """(market id, timeframe) pairs some running bot reads, and the 1m feed of markets with open positions."""
    keys = set(SpotBot.objects.filter(status=SpotBotStatus.RUNNING).values_list("market_id", "timeframe"))
    open_markets = SpotPosition.objects.filter(status="OPEN").values_list("market_id", flat=True).distinct()
    keys |= {(market_id, Timeframe.ONE_MINUTE) for market_id in open_markets}
    return sorted(keys)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def candles_poll(*, market: SpotMarket, timeframe: str, now: datetime | None = None) -> int:
    """Fetch this pair's closed candles since the last stored one; how many were new (0 on failure: stale)."""
    now = now or timezone.now()
    seconds = TIMEFRAME_SECONDS[timeframe]
    last = Candle.objects.filter(market=market, timeframe=timeframe).order_by("-opened_at").first()
    since = int((last.opened_at + timedelta(seconds=seconds)).timestamp() * 1000) if last else None
    try:
        rows = Venue(market.exchange).ohlcv(market.symbol, timeframe, since_ms=since, limit=HISTORY)
    except VenueError as exc:
        SpotMarket.objects.filter(pk=market.pk).update(poll_error=exc.reason)
        log.warning("candles of %s %s: %s", market.symbol, timeframe, exc.reason)
        return 0
    # The exchange's last row is the candle still forming: only closed ones are stored.
    closed = [row for row in rows if _at(row[0]) + timedelta(seconds=seconds) <= now]
    new = [
        Candle(
            market=market,
            timeframe=timeframe,
            opened_at=_at(row[0]),
            open=dec(row[1]),
            high=dec(row[2]),
            low=dec(row[3]),
            close=dec(row[4]),
            volume=dec(row[5]),
        )
        for row in closed
        if last is None or _at(row[0]) > last.opened_at
    ]
    with transaction.atomic():
        Candle.objects.bulk_create(new, ignore_conflicts=True)
        fields = {"polled_at": now, "poll_error": ""}
        if new and timeframe == Timeframe.ONE_MINUTE or new and not market.last_price:
            fields["last_price"] = new[-1].close
        SpotMarket.objects.filter(pk=market.pk).update(**fields)
        if new:  # open positions' value moved
            send_after_commit(spot_changed, sender=SpotMarket, user_ids=spot_user_ids(market_ids=[market.pk]))
    return len(new)


def stale_reason(*, market: SpotMarket, timeframe: str, now: datetime | None = None) -> str:
    """Why this pair's prices cannot be traded on now ("" when they are fresh)."""
    now = now or timezone.now()
    seconds = TIMEFRAME_SECONDS[timeframe]
    if market.poll_error:
        return f"No fresh prices for {market.symbol}: {market.exchange} did not answer ({market.poll_error[:80]})."
    last = Candle.objects.filter(market=market, timeframe=timeframe).order_by("-opened_at").first()
    if last is None:
        return f"No {timeframe} candles for {market.symbol} yet."
    age = now - (last.opened_at + timedelta(seconds=seconds))
    if age > timedelta(seconds=2 * seconds + 60):
        return (
            f"No fresh prices for {market.symbol}: the last {timeframe} candle closed {int(age.total_seconds())} s ago."
        )
    return ""


def closes(*, market_id: int, timeframe: str, count: int) -> list[tuple[datetime, Decimal]]:
    """The latest `count` closed candles' (open time, close), oldest first."""
    rows = (
        Candle.objects.filter(market_id=market_id, timeframe=timeframe)
        .order_by("-opened_at")
        .values_list("opened_at", "close")[:count]
    )
    return list(reversed(rows))
