from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .selectors import market_by_symbol


@login_required
@require_GET
def quote(request: HttpRequest, symbol: str) -> HttpResponse:
    """The market's last price, or the paused banner when prices are stale."""
    return render(request, "markets/_quote.html", {"market": market_by_symbol(symbol)})
