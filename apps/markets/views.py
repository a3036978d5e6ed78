from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.users.mfa import staff_required

from .models import FeedStatus, Market, Timeframe
from .selectors import candles, market_by_symbol, ticks_after


@login_required
@require_GET
def quote(request: HttpRequest, symbol: str) -> HttpResponse:
    """The market's last price, or the paused banner when prices are stale."""
    return render(request, "markets/_quote.html", {"market": market_by_symbol(symbol)})


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int | None:
    try:
        value = int(request.GET.get(name, default))
    except ValueError:
        return None
    return value if low <= value <= high else None


@login_required
@require_GET
def candle_history(request: HttpRequest, symbol: str) -> HttpResponse:
    market = market_by_symbol(symbol)
    timeframe = _int_param(request, "tf", Timeframe.M1, 1, 86400)
    limit = _int_param(request, "limit", 300, 1, 1000)
    if timeframe not in Timeframe.values or limit is None:
        return HttpResponseBadRequest("tf must be one of 60, 300, 900, 3600; limit 1 to 1000.")
    return JsonResponse(
        {"symbol": symbol, "timeframe": timeframe, "candles": candles(market=market, timeframe=timeframe, limit=limit)}
    )


@login_required
@require_GET
def tick_history(request: HttpRequest, symbol: str) -> HttpResponse:
    market = market_by_symbol(symbol)
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", 500, 1, 2000)
    if after is None or limit is None:
        return HttpResponseBadRequest("after must be a sequence number; limit 1 to 2000.")
    return JsonResponse({"symbol": symbol, "ticks": ticks_after(market=market, after_seq=after, limit=limit)})


@staff_required
@require_GET
def feed_status(request: HttpRequest) -> HttpResponse:
    """For staff: each feed's heartbeat and upstream usage, and every market's freshness."""
    return render(
        request,
        "markets/feed_status.html",
        {"feeds": FeedStatus.objects.order_by("source"), "markets": Market.objects.order_by("source", "symbol")},
    )
