from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from apps.accounts.services import MAX_DEMO_ACCOUNTS
from apps.bots.engine.strategies import STRATEGIES
from apps.markets.selectors import markets_tradable


def _summary(doc: str | None) -> str:
    """A strategy's one-line description: the first line of its docstring."""
    return doc.strip().splitlines()[0].replace("`", "") if doc else ""


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """What Nexus offers, for a visitor: the open markets and their payouts, one live price, bots and backtests."""
    if request.user.is_authenticated:
        return redirect("trading:trade")
    markets = list(markets_tradable())
    # The latest price of the first market that has one: server-rendered, live updates need an account.
    featured = next((m for m in markets if m.last_price is not None), None)
    strategies = [(name, _summary(cls.__doc__)) for name, cls in STRATEGIES.items()]
    return render(
        request,
        "dashboard/home.html",
        {"markets": markets, "featured": featured, "strategies": strategies, "max_demo_accounts": MAX_DEMO_ACCOUNTS},
    )
