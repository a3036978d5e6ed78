"""Exchange pages: connections, each connection's portfolio, spot bots.

Every page works without JavaScript (plain forms, redirects); with htmx the
same views answer with the partial they re-render. An invalid form answers
422 with its errors next to their fields. Another trader's connection or bot
id is a 404 everywhere.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.billing.entitlements import refused_plan
from apps.common.http import redirect_back
from apps.common.ratelimit import rate_limited

from . import selectors
from .forms import ConnectForm, SpotBacktestForm, SpotBotForm, service_errors_add
from .fragments import bot_live_context, kill_switch_on, portfolio_live_context
from .models import ExchangeConnection, OrderStatus, SpotBot
from .services.bots import spot_bot_backtest, spot_bot_create, spot_bot_start, spot_bot_stop
from .services.connections import connection_connect, connection_remove, paper_connection
from .services.cycle import positions_close


def _connection_or_404(request: HttpRequest, connection_id: int) -> ExchangeConnection:
    try:
        return selectors.connection_of(user=request.user, connection_id=connection_id)
    except ExchangeConnection.DoesNotExist:
        raise Http404("No such connection.") from None


def _bot_or_404(request: HttpRequest, bot_id: int) -> SpotBot:
    try:
        return selectors.spot_bot_of(user=request.user, bot_id=bot_id)
    except SpotBot.DoesNotExist:
        raise Http404("No such bot.") from None


# --- Connections -------------------------------------------------------------------


def _connections_context(request: HttpRequest) -> dict:
    connections = selectors.connections_of(user=request.user)
    worth = selectors.equities(connections=connections)
    return {
        "connections": [(connection, worth[connection.pk]) for connection in connections],
        "has_paper": any(connection.paper for connection in connections),
    }


def _list_context(request: HttpRequest, form: ConnectForm | None = None) -> dict:
    return _connections_context(request) | {
        "form": form or ConnectForm(),
        "bots": [bot_live_context(bot) for bot in selectors.spot_bots_of(user=request.user)],
        "kill_switch": kill_switch_on(request.user),
    }


@login_required
@require_GET
def exchange_list(request: HttpRequest) -> HttpResponse:
    return render(request, "exchanges/list.html", _list_context(request))


@login_required
@require_POST
def paper_open(request: HttpRequest) -> HttpResponse:
    """The trader's paper exchange, opened on their first visit (the list page posts here as it loads)."""
    paper_connection(user=request.user)
    if request.htmx:
        return render(request, "exchanges/list.html#connections", _connections_context(request))
    return redirect("exchanges:list")


@login_required
@require_POST
@rate_limited("exchange_connects")
def connect(request: HttpRequest) -> HttpResponse:
    form = ConnectForm(request.POST)
    if form.is_valid():
        try:
            connection = connection_connect(user=request.user, **form.cleaned_data, request=request)
        except ValidationError as error:
            service_errors_add(form, error)
        else:
            messages.success(request, f"{connection.label} is connected.")
            url = reverse("exchanges:portfolio", args=[connection.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.htmx:
        return render(request, "exchanges/list.html#connect-form", {"form": form}, status=422)
    return render(request, "exchanges/list.html", _list_context(request, form), status=422)


@login_required
@require_POST
def remove(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    if connection.paper:
        raise Http404("The paper exchange cannot be removed.")
    connection_remove(user=request.user, connection_id=connection.pk, request=request)
    messages.success(request, f"{connection.label} is removed: its key is deleted, its history stays.")
    url = reverse("exchanges:list")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- Portfolio -------------------------------------------------------------------------


def _chart_points(curve: list[tuple[str, object]]) -> list[dict]:
    """The equity curve as the chart reads it: one point per second (the last one wins), oldest first."""
    points: dict[int, str] = {}
    for at, value in curve:
        points[int(parse_datetime(at).timestamp())] = str(value)
    return [{"time": second, "value": value} for second, value in sorted(points.items())]


def _history_context(connection: ExchangeConnection) -> dict:
    return {
        "connection": connection,
        "closed": selectors.closed_positions(connection=connection),
        "orders": selectors.orders_of(connection=connection),
        "curve": _chart_points(selectors.equity_curve(connection=connection, now=timezone.now())),
    }


@login_required
@require_GET
def portfolio(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    if request.htmx and request.htmx.target == "exchange-history":
        return render(request, "exchanges/portfolio.html#history", _history_context(connection))
    context = portfolio_live_context(connection) | _history_context(connection)
    context["kill_switch"] = kill_switch_on(request.user)
    context["bots"] = [bot for bot in selectors.spot_bots_of(user=request.user) if bot.connection_id == connection.pk]
    return render(request, "exchanges/portfolio.html", context)


@login_required
@require_POST
def close(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Close all open positions at market, or those named (`position`, one or more)."""
    connection = _connection_or_404(request, connection_id)
    wanted = request.POST.getlist("position")
    if not all(value.isdigit() for value in wanted):
        raise Http404("No such position.")
    ids = [int(value) for value in wanted] or None
    orders = positions_close(user=request.user, connection_id=connection.pk, position_ids=ids)
    filled = [o for o in orders if o.status in (OrderStatus.FILLED, OrderStatus.PARTIAL)]
    refused = [o for o in orders if o.status not in (OrderStatus.FILLED, OrderStatus.PARTIAL)]
    if not orders:
        messages.info(request, "No open position to close.")
    if filled:
        messages.success(request, f"{len(filled)} position{'s' if len(filled) != 1 else ''} sold at market.")
    for order in refused:
        messages.error(
            request, f"{order.market.symbol}: the sell order is {order.get_status_display().lower()}. {order.reason}"
        )
    return redirect_back(request, fallback=reverse("exchanges:portfolio", args=[connection.pk]))


# --- Spot bots -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited("bot_writes")
def bot_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {}
        if wanted := request.GET.get("connection"):
            if not wanted.isdigit():
                raise Http404("No such connection.")
            initial["connection"] = _connection_or_404(request, int(wanted))
        form = SpotBotForm(user=request.user, initial=initial)
        return render(request, "exchanges/bot_form.html", {"form": form})

    form = SpotBotForm(request.POST, user=request.user)
    validate_only = request.POST.get("validate") == "1"
    if form.is_valid() and not validate_only:
        data = form.cleaned_data
        try:
            bot = spot_bot_create(
                user=request.user,
                connection=data["connection"],
                market=data["market"],
                settings=form.settings(),
                request=request,
            )
        except ValidationError as error:
            service_errors_add(form, error)
        else:
            messages.success(request, f"Bot {bot.name} created. It is stopped: start it when you are ready.")
            url = reverse("exchanges:bot", args=[bot.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    status = 422 if form.errors else 200
    if validate_only:
        return render(request, "bots/_errors_oob.html", {"form": form}, status=status)
    if request.htmx:
        return render(request, "exchanges/bot_form.html#bot-form", {"form": form}, status=status)
    return render(request, "exchanges/bot_form.html", {"form": form}, status=status)


def _bot_activity_context(bot: SpotBot) -> dict:
    held, closed = selectors.bot_positions(bot=bot)
    return {
        "bot": bot,
        "held": held,
        "closed": closed,
        "orders": selectors.orders_of(connection=bot.connection, bot=bot),
    }


@login_required
@require_GET
def bot_detail(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    if request.htmx and request.htmx.target == "spot-activity":
        return render(request, "exchanges/bot_detail.html#activity", _bot_activity_context(bot))
    context = bot_live_context(bot) | _bot_activity_context(bot)
    context["kill_switch"] = kill_switch_on(request.user)
    context["backtest_form"] = SpotBacktestForm()
    return render(request, "exchanges/bot_detail.html", context)


@login_required
@require_POST
@rate_limited("backtests")
def bot_backtest(request: HttpRequest, bot_id: int) -> HttpResponse:
    """The bot's settings replayed over its pair's recorded candles, with the paper exchange's fee and slippage."""
    bot = _bot_or_404(request, bot_id)
    form, report = SpotBacktestForm(request.POST), None
    if form.is_valid():
        try:
            report = spot_bot_backtest(user=request.user, bot_id=bot.pk, **form.cleaned_data)
        except ValidationError as error:
            service_errors_add(form, error)
    context = {"bot": bot, "backtest_form": form, "report": report}
    status = 422 if form.errors else 200
    if request.htmx:
        return render(request, "exchanges/bot_detail.html#backtest", context, status=status)
    page = bot_live_context(bot) | _bot_activity_context(bot) | context | {"kill_switch": kill_switch_on(request.user)}
    return render(request, "exchanges/bot_detail.html", page, status=status)


@login_required
@require_POST
@rate_limited("bot_writes")
def bot_start(request: HttpRequest, bot_id: int) -> HttpResponse:
    return _start_or_stop(request, bot_id, start=True)


@login_required
@require_POST
def bot_stop(request: HttpRequest, bot_id: int) -> HttpResponse:
    return _start_or_stop(request, bot_id, start=False)


def _start_or_stop(request: HttpRequest, bot_id: int, *, start: bool) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    error = upgrade = None
    try:
        (spot_bot_start if start else spot_bot_stop)(user=request.user, bot_id=bot.pk, request=request)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        upgrade = refused_plan(exc)
    if not request.htmx:
        if error:
            messages.error(request, f"{bot.name}: {error}")
        else:
            messages.success(request, f"Bot {bot.name} {'started' if start else 'stopped'}.")
        return redirect_back(request, fallback=reverse("exchanges:bot", args=[bot.pk]))
    bot = selectors.spot_bot_of(user=request.user, bot_id=bot.pk)
    context = bot_live_context(bot) | {"error": error, "upgrade": upgrade, "actions": True, "actions_oob": True}
    return render(request, "exchanges/_bot_status.html", context, status=422 if error else 200)
