import csv
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from apps.accounts.selectors import selected_account
from apps.common.forms import MoneyField
from apps.common.money import fees_text, money_text
from apps.common.ratelimit import rate_limited
from apps.markets.models import Market, Source, Timeframe
from apps.markets.selectors import markets_tradable

from . import selectors
from .filters import SORTS, HistoryFilter
from .forms import TradeForm, stake_limits
from .fragments import positions_context
from .models import Direction, DurationUnit, Status
from .services import contract_buy, is_deriv, market_refusal, win_terms

# The order form's quick picks: buttons that fill the stake, or the duration and its unit.
STAKE_PICKS = ("1", "5", "10", "25", "50", "100")
DURATION_PICKS = (
    ("1", "t", "1 tick"),
    ("5", "t", "5 ticks"),
    ("10", "t", "10 ticks"),
    ("1", "m", "1 min"),
    ("5", "m", "5 min"),
)


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
    # Settings > Trading: the trader's default market when none is asked for.
    default = getattr(request.user, "default_market", "")
    return chosen or next((m for m in markets if m.symbol == default), None) or markets[0]


def _preferred(user) -> dict:
    """The order form's starting values from Settings > Trading (the form's own defaults where none is set)."""
    initial = {}
    if user.default_stake is not None:
        initial["stake"] = user.default_stake
    if user.default_duration is not None and user.default_duration_unit:
        initial |= {"duration": user.default_duration, "duration_unit": user.default_duration_unit}
    return initial


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
        form = TradeForm(initial={"market": market.symbol, **_preferred(request.user)})
    return {
        "account": account,
        "markets": markets,
        "market": market,
        "form": form,
        # Shown next to the form: why this account cannot trade here now (a Deriv account
        # that is disconnected says so with Deriv's reason). Prices are the banner's business.
        "refusal": market_refusal(account=account, market=market, check_prices=False),
        "preview": _preview(account, market, form["stake"].value()),
        "timeframes": [("ticks", "Ticks"), *((tf.value, tf.label) for tf in Timeframe)],
        "stake_picks": STAKE_PICKS,
        "duration_picks": DURATION_PICKS,
        **positions_context(account),
    }


def _preview(account, market: Market, stake) -> dict:
    """What a stake the market takes pays on a win, fees and net profit included; for any other stake
    typed, the stakes it takes instead."""
    try:
        amount = MoneyField().clean(stake)
    except ValidationError:
        amount = None
    if amount is None:
        return {"valid": False, "market": market, "limits": ""}
    if not market.min_stake <= amount <= market.max_stake:
        return {"valid": False, "market": market, "limits": stake_limits(market, account.currency)}
    return {"valid": True, "market": market, "terms": win_terms(account=account, market=market, stake=amount)}


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
        if request.user.confirm_purchases and not request.POST.get("confirmed"):
            # Settings > Trading "ask before buying": the page's dialog confirms; without JavaScript, this page.
            return _confirm_page(request, account, data)
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
                    f"{money_text(contract.stake)} {account.currency}. Deriv has not answered yet; "
                    "the result shows in your positions."
                )
            else:
                message = (
                    f"Bought {contract.get_direction_display()} on {market.name}"
                    f"{' at Deriv' if contract.at_deriv else ''}: "
                    f"{money_text(contract.stake)} {account.currency} for {contract.duration_label}, "
                    f"pays {money_text(contract.payout)} if it wins"
                    + (
                        f"{fees_text(commission=contract.commission, markup=contract.markup)}"
                        f" · net profit {money_text(contract.net_payout - contract.stake)}."
                        if contract.fees
                        else "."
                    )
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


def _confirm_page(request: HttpRequest, account, data: dict) -> HttpResponse:
    market = data["market"]
    terms = win_terms(account=account, market=market, stake=data["stake"])
    unit = dict(DurationUnit.choices)[data["duration_unit"]]
    return render(
        request,
        "trading/buy_confirm.html#confirm" if request.htmx else "trading/buy_confirm.html",
        {"account": account, "order": data, "terms": terms, "unit": unit, "direction": Direction(data["direction"])},
    )


@login_required
@require_GET
def preview(request: HttpRequest) -> HttpResponse:
    markets = list(markets_tradable())
    if not markets:
        raise Http404("No market is open.")
    market = _chosen_market(request, markets)
    preview = _preview(_account_or_404(request), market, request.GET.get("stake"))
    return render(request, "trading/trade.html#preview", {"preview": preview, "preview_oob": True})


def _query(request: HttpRequest, **changes) -> str:
    """The page's query string without its page number, with `changes` (None drops a key)."""
    query = request.GET.copy()
    query.pop("page", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _quick_ranges(request: HttpRequest) -> list[dict]:
    """Today, the last 7 and the last 30 days (today included), in the current time zone, as links."""
    today = timezone.localdate()
    ranges = []
    for label, days in (("Today", 1), ("7 days", 7), ("30 days", 30)):
        start = (today - timedelta(days=days - 1)).isoformat()
        current = request.GET.get("date_from") == start and request.GET.get("date_to") == today.isoformat()
        ranges.append(
            {"label": label, "query": _query(request, date_from=start, date_to=today.isoformat()), "current": current}
        )
    return ranges


def _sort_links(request: HttpRequest) -> dict[str, dict]:
    """Each sortable column's link: ascending first, then the other way round; which one is current."""
    current = request.GET.get("sort", "")
    links = {}
    for name in SORTS:
        ascending = current == name
        descending = current == f"-{name}"
        links[name] = {
            "query": _query(request, sort=f"-{name}" if ascending else name),
            "order": "ascending" if ascending else "descending" if descending else "none",
        }
    return links


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    account = _account_or_404(request)
    filters = HistoryFilter(request.GET or None, queryset=selectors.history(account=account))
    contracts = filters.contracts
    page = Paginator(selectors.with_source(contracts), 25).get_page(request.GET.get("page"))
    context = {
        "account": account,
        "form": filters.form,
        "page": page,
        "stats": selectors.stats(contracts),
        "query": _query(request),
        "quick_ranges": _quick_ranges(request),
        "sorts": _sort_links(request),
    }
    if request.htmx and request.htmx.target == "history":
        # The filters' error slots are outside the results: they come along, swapped by id.
        return render(request, "trading/history.html#results", {**context, "errors_oob": True})
    return render(request, "trading/history.html", context)


CSV_COLUMNS = (
    "contract",
    "bought",
    "market",
    "symbol",
    "type",
    "duration",
    "stake",
    "payout",
    "entry",
    "exit",
    "result",
    "gross_paid",
    "commission",
    "markup",
    "paid",
    "pnl",
    "settled",
    "currency",
)


class _Echo:
    """A file that hands back what csv writes to it, for streaming."""

    def write(self, value: str) -> str:
        return value


def _csv_time(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S%z") if moment else ""


def _csv_rows(contracts, currency: str):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for c in contracts.iterator(chunk_size=500):
        profit = c.profit
        yield writer.writerow(
            (
                c.pk,
                _csv_time(c.purchased_at),
                c.market.name,
                c.market.symbol,
                c.get_direction_display(),
                c.duration_label,
                # Decimals as their exact text, never through a float.
                str(c.stake),
                str(c.payout),
                "" if c.entry_spot is None else str(c.entry_spot),
                "" if c.exit_spot is None else str(c.exit_spot),
                c.get_status_display(),
                "" if c.amount_paid is None else str(c.gross_paid),
                "" if c.amount_paid is None else str(c.commission),
                "" if c.amount_paid is None else str(c.markup),
                "" if c.amount_paid is None else str(c.amount_paid),
                "" if profit is None else str(profit),
                _csv_time(c.settled_at),
                currency,
            )
        )


@login_required
@require_GET
def history_export(request: HttpRequest) -> HttpResponse:
    """The history as CSV, with the page's filters and sort, streamed (times in the current time zone)."""
    account = _account_or_404(request)
    filters = HistoryFilter(request.GET or None, queryset=selectors.history(account=account))
    if filters.is_bound and not filters.is_valid():
        # The page says what is wrong next to each filter.
        return redirect(f"{reverse('trading:history')}?{_query(request)}")
    contracts = filters.qs
    response = StreamingHttpResponse(_csv_rows(contracts, account.currency), content_type="text/csv; charset=utf-8")
    name = f"nexus-history-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_for_user(user=request.user, pk=pk)
    context = {
        "contract": contract,
        "chart": selectors.contract_chart(contract=contract),
        "timeline": selectors.contract_timeline(contract=contract),
        "transfers": selectors.contract_transfers(contract=contract),
    }
    return render(request, "trading/contract_detail.html", context)


@login_required
@require_GET
def markers(request: HttpRequest) -> HttpResponse:
    """The trader's own entries and exits on one market, and the contracts still open there, for the chart."""
    account = _account_or_404(request)
    market = get_object_or_404(Market, symbol=request.GET.get("market", ""))
    return JsonResponse(
        {
            "markers": selectors.chart_markers(account=account, market=market),
            "open": selectors.chart_open_contracts(account=account, market=market),
        }
    )
