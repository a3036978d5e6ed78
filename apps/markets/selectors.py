from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Candle, Market, Tick


def markets_tradable() -> QuerySet[Market]:
    return Market.objects.filter(is_active=True)


def market_by_symbol(symbol: str) -> Market:
    return get_object_or_404(Market, symbol=symbol, is_active=True)


def ticks_after(*, market: Market, after_seq: int, limit: int = 500) -> list[dict]:
    """Ticks with seq > after_seq, oldest first; with after_seq=0, the latest `limit` ticks."""
    ticks = Tick.objects.filter(market=market).order_by()
    if after_seq:
        rows = ticks.filter(seq__gt=after_seq).order_by("seq")[:limit]
    else:
        rows = reversed(ticks.order_by("-seq")[:limit])
    return [{"seq": t.seq, "ms": int(t.time.timestamp() * 1000), "price": str(t.price)} for t in rows]


def candles(*, market: Market, timeframe: int, limit: int = 300) -> list[dict]:
    """The latest stored candles, oldest first, as lightweight-charts reads them."""
    rows = Candle.objects.filter(market=market, timeframe=timeframe).order_by("-start")[:limit]
    return [
        {
            "time": int(c.start.timestamp()),
            "open": str(c.open),
            "high": str(c.high),
            "low": str(c.low),
            "close": str(c.close),
            "ticks": c.tick_count,
        }
        for c in reversed(rows)
    ]
