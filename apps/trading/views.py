from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from apps.accounts.selectors import selected_account
from apps.common.forms import MoneyField
from apps.common.ratelimit import rate_limited
from apps.markets.models import Market, Source, Timeframe
from apps.markets.selectors import markets_tradable

from . import selectors
from .filters import HistoryFilter
from .forms import TradeForm, stake_limits
from .fragments import positions_context
from .models import Status
from .services import contract_buy, is_deriv, market_refusal, payout_for


def _account_or_404(request: HttpRequest):
    account = selected_account(user=request.user)
    if account is None:
        raise Http404("No trading account.")
    return account


def _chosen_market(request: HttpRequest, markets: list[Market]) -> Market:
    symbol = request.GET.get("market")
    chosen = next((m for m in markets if m.symbol == symbol), None)
    if symbol and chosen is None:
        raise Http404("No such market.")
    return chosen or markets[0]


def _markets_for(account) -> list[Market]:
    """The open markets this account trades (Deriv's for a Deriv account), or every open one if none."""
    markets = list(markets_tradable())
    source = Source.DERIV if is_deriv(account) else Source.OTC
    return [m for m in markets if m.source == source] or markets


def _trade_context(request: HttpRequest, *, form: TradeForm | None = None, market: Market | None = None) -> dict:
    account = _account_or_404(request)
    markets = _markets_for(account)
    if not markets:
        raise Http404("No market is open.")
    market = market or _chosen_market(request, markets)
    if form is None:
        form = TradeForm(initial={"market": market.symbol})
    return {
        "account": account,
        "markets": markets,
        "market": market,
        "form": form,
        # Shown next to the form: why this account cannot trade here now (a Deriv account
        # that is disconnected says so with Deriv's reason). Prices are the banner's business.
        "refusal": market_refusal(account=account, market=market, check_prices=False),
        "preview": _preview(market, form["stake"].value(), account.currency),
        "timeframes": [("ticks", "Ticks"), *((tf.value, tf.label) for tf in Timeframe)],
        **positions_context(account),
    }


def _preview(market: Market, stake, currency: str) -> dict:
    """The payout of a stake the market takes; for any other stake typed, the stakes it takes instead."""
    try:
        amount = MoneyField().clean(stake)
    except ValidationError:
        amount = None
    if amount is None:
        return {"valid": False, "market": market, "limits": ""}
    if not market.min_stake <= amount <= market.max_stake:
        return {"valid": False, "market": market, "limits": stake_limits(market, currency)}
    payout = payout_for(stake=amount, payout_percent=market.payout_percent)
    return {"valid": True, "market": market, "stake": amount, "payout": payout, "profit": payout - amount}


@login_required
@require_GET
def trade(request: HttpRequest) -> HttpResponse:
    if not markets_tradable().exists():
        return render(request, "trading/closed.html")
    context = _trade_context(request)
    if request.htmx and request.htmx.target == "trade-panel":
        return render(request, "trading/trade.html#panel", context)
    return render(request, "trading/trade.html", context)


@login_required
@require_POST
@rate_limited("purchases")
def buy(request: HttpRequest) -> HttpResponse:
    account = _account_or_404(request)
    form = TradeForm(request.POST)
    market = None
    if form.is_valid():
        data = form.cleaned_data
        market = data["market"]
        try:
            contract = contract_buy(
                user=request.user,
                account=account,
                market=market,
                direction=data["direction"],
                stake=data["stake"],
                duration=data["duration"],
                duration_unit=data["duration_unit"],
                idempotency_key=data["idempotency_key"],
                request=request,
            )
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            if contract.status == Status.PENDING:
                message = (
                    f"Sent {contract.get_direction_display()} on {market.name} to Deriv: "
                    f"{contract.stake} {account.currency}. Deriv has not answered yet; "
                    "the result shows in your positions."
                )
            else:
                message = (
                    f"Bought {contract.get_direction_display()} on {market.name}"
                    f"{' at Deriv' if contract.at_deriv else ''}: "
                    f"{contract.stake} {account.currency} for {contract.duration_label}, "
                    f"pays {contract.payout} if it wins."
                )
            if not request.htmx:
                messages.success(request, message)
                return redirect(f"{reverse('trading:trade')}?market={market.symbol}")
            fresh = TradeForm(
                initial={
                    "market": market.symbol,
                    "direction": data["direction"],
                    "stake": data["stake"],
                    "duration": data["duration"],
                    "duration_unit": data["duration_unit"],
                }
            )
            response = render(
                request,
                "trading/trade.html#order-form",
                {**_trade_context(request, form=fresh, market=market), "bought": message},
            )
            return trigger_client_event(response, "contractBought")
    elif form["market"].value():
        market = Market.objects.filter(symbol=form["market"].value(), is_active=True).first()
    context = _trade_context(request, form=form, market=market)
    if request.htmx:
        # 200 so htmx swaps the form with its errors in place.
        return render(request, "trading/trade.html#order-form", context)
    return render(request, "trading/trade.html", context, status=422)


@login_required
@require_GET
def preview(request: HttpRequest) -> HttpResponse:
    markets = list(markets_tradable())
    if not markets:
        raise Http404("No market is open.")
    market = _chosen_market(request, markets)
    preview = _preview(market, request.GET.get("stake"), _account_or_404(request).currency)
    return render(request, "trading/trade.html#preview", {"preview": preview})


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    account = _account_or_404(request)
    filters = HistoryFilter(request.GET or None, queryset=selectors.history(account=account))
    contracts = filters.contracts
    page = Paginator(contracts, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "account": account,
        "form": filters.form,
        "page": page,
        "stats": selectors.stats(contracts),
        "query": query.urlencode(),
    }
    if request.htmx and request.htmx.target == "history":
        # The filters' error slots are outside the results: they come along, swapped by id.
        return render(request, "trading/history.html#results", {**context, "errors_oob": True})
    return render(request, "trading/history.html", context)


@login_required
@require_GET
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_for_user(user=request.user, pk=pk)
    return render(request, "trading/contract_detail.html", {"contract": contract})


@login_required
@require_GET
def markers(request: HttpRequest) -> HttpResponse:
    """The trader's own entries and exits on one market, for the chart."""
    account = _account_or_404(request)
    market = get_object_or_404(Market, symbol=request.GET.get("market", ""))
    return JsonResponse({"markers": selectors.chart_markers(account=account, market=market)})
