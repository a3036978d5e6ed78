from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.selectors import selected_account
from apps.accounts.services import MAX_DEMO_ACCOUNTS
from apps.bots.engine.strategies import STRATEGIES
from apps.markets.selectors import markets_tradable

from . import selectors
from .fragments import live_context


def _summary(doc: str | None) -> str:
    """A strategy's one-line description: the first line of its docstring."""
    return doc.strip().splitlines()[0].replace("`", "") if doc else ""


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in trader's dashboard; for a visitor, what Nexus offers."""
    if request.user.is_authenticated:
        return dashboard(request)
    markets = list(markets_tradable())
    # The latest price of the first market that has one: server-rendered, live updates need an account.
    featured = next((m for m in markets if m.last_price is not None), None)
    strategies = [(name, _summary(cls.__doc__)) for name, cls in STRATEGIES.items()]
    return render(
        request,
        "dashboard/home.html",
        {"markets": markets, "featured": featured, "strategies": strategies, "max_demo_accounts": MAX_DEMO_ACCOUNTS},
    )


def dashboard(request: HttpRequest) -> HttpResponse:
    """The selected account's money at a glance: cards, charts over a range, results by market, markets, health."""
    account = selected_account(user=request.user)
    key = selectors.range_key(request.GET.get("range"))
    markets = selectors.market_overview()
    context = {
        "account": account,
        "range": key,
        "ranges": [(k, label) for k, (label, _days) in selectors.RANGES.items()],
        "markets": markets,
        "health": selectors.health(user=request.user, markets=markets),
    }
    if account is not None:
        context |= live_context(account)
        context |= {
            "chart": selectors.chart_data(account=account, key=key),
            "by_market": selectors.results_by_market(account=account, key=key),
        }
    return render(request, "dashboard/dashboard.html", context)
