from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Market, Tick


def markets_tradable() -> QuerySet[Market]:
    return Market.objects.filter(is_active=True)


def market_by_symbol(symbol: str) -> Market:
    return get_object_or_404(Market, symbol=symbol, is_active=True)


def recent_ticks(*, market: Market, limit: int = 100) -> list[Tick]:
    return list(reversed(Tick.objects.filter(market=market).order_by("-seq")[:limit]))
