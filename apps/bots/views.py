"""Bots pages: list, form, detail, signals monitor, backtests.

Every page works without JavaScript (plain forms, redirects); with htmx the
same views answer with the partial they re-render. An invalid form answers
422 with its errors next to their fields, to htmx too (base.html's htmx
config swaps a 422). Another trader's bot or backtest id is a 404 everywhere.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.billing.entitlements import refused_plan, upgrade_url
from apps.common.http import redirect_back
from apps.common.ratelimit import rate_limited

from . import selectors
from .backtests import BACKTEST_SETTINGS, backtest_create, backtest_errors, backtest_settings_initial
from .forms import STRATEGY_LABELS, BacktestForm, BotForm
from .models import Backtest, Bot
from .services import (
    BOT_SETTINGS,
    bot_create,
    bot_errors,
    bot_start,
    bot_stop,
    bot_update,
    kill_switch_set,
    signals_watch,
)

# The consumer lets one socket follow this many markets (apps/realtime/consumers.py).
SIGNALS_MAX_MARKETS = 8


def _bot_or_404(request: HttpRequest, bot_id: int) -> Bot:
    try:
        return selectors.bot_for(user=request.user, bot_id=bot_id)
    except Bot.DoesNotExist:
        raise Http404("No such bot.") from None


def _backtest_or_404(request: HttpRequest, backtest_id: int) -> Backtest:
    try:
        return selectors.backtest_for(user=request.user, backtest_id=backtest_id)
    except Backtest.DoesNotExist:
        raise Http404("No such backtest.") from None


def _error_messages(error: ValidationError) -> dict[str, list[ValidationError]] | list[ValidationError]:
    """A service's errors as the form takes them, each keeping its code (a plan refusal shows an Upgrade link)."""
    return error.error_dict if hasattr(error, "error_dict") else error.error_list


# --- Bots ------------------------------------------------------------------------


@login_required
@require_GET
def bot_list(request: HttpRequest) -> HttpResponse:
    context = {
        "bots": selectors.bots_for(user=request.user),
        "switches": selectors.kill_switches_for(user=request.user),
    }
    return render(request, "bots/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited("bot_writes")
def bot_new(request: HttpRequest) -> HttpResponse:
    return _bot_form(request, bot=None)


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited("bot_writes")
def bot_edit(request: HttpRequest, bot_id: int) -> HttpResponse:
    return _bot_form(request, bot=_bot_or_404(request, bot_id))


def _bot_form(request: HttpRequest, *, bot: Bot | None) -> HttpResponse:
    if request.method == "GET":
        initial = BotForm.initial_for(bot) if bot else {}
        form = BotForm(user=request.user, initial=initial)
        return render(request, "bots/form.html", {"form": form, "bot": bot})

    form = BotForm(request.POST, user=request.user)
    # htmx checks the form as the trader fills it in: validate, save nothing.
    validate_only = request.POST.get("validate") == "1"
    valid = form.is_valid()
    settings = form.settings(BOT_SETTINGS)
    # The service's checks (the market for this account, regimes...) come with the form's own, in one round.
    form.merge_service_errors(bot_errors(bot=Bot(user=request.user, **settings)))
    if valid and not form.errors and not validate_only:
        try:
            if bot is None:
                saved = bot_create(user=request.user, decision=form.decision, settings=settings, request=request)
                message = f"Bot {saved.name} created. It is stopped: start it when you are ready."
            else:
                saved = bot_update(
                    user=request.user, bot=bot, decision=form.decision, settings=settings, request=request
                )
                message = f"Bot {saved.name} saved." + (
                    " The running bot uses the new settings from its next decision." if saved.is_running else ""
                )
        except ValidationError as error:
            form.add_service_errors(_error_messages(error))
        else:
            messages.success(request, message)
            url = reverse("bots:detail", args=[saved.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    status = 422 if form.errors else 200
    context = {"form": form, "bot": bot}
    if validate_only:
        return render(request, "bots/_errors_oob.html", context, status=status)
    if request.htmx:
        return render(request, "bots/form.html#bot-form", context, status=status)
    return render(request, "bots/form.html", context, status=status)


@login_required
@require_GET
def bot_detail(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    context = {
        "bot": bot,
        "trades": selectors.bot_trades(bot=bot, page=request.GET.get("page")),
        "pnl_points": selectors.bot_pnl_points(bot=bot),
        "skips": selectors.bot_skip_counts(bot=bot),
        "stats": selectors.bot_stats(bot=bot),
        "switches": selectors.kill_switches_for(user=request.user),
    }
    if request.htmx and request.htmx.target == "bot-activity":
        return render(request, "bots/detail.html#activity", context)
    return render(request, "bots/detail.html", context)


@login_required
@require_POST
@rate_limited("bot_writes")
def bot_start_view(request: HttpRequest, bot_id: int) -> HttpResponse:
    return _start_or_stop(request, bot_id, start=True)


@login_required
@require_POST
def bot_stop_view(request: HttpRequest, bot_id: int) -> HttpResponse:
    return _start_or_stop(request, bot_id, start=False)


def _start_or_stop(request: HttpRequest, bot_id: int, *, start: bool) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)
    error = upgrade = None
    try:
        (bot_start if start else bot_stop)(user=request.user, bot_id=bot.pk, request=request)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        upgrade = refused_plan(exc)
    if not request.htmx:
        if error:
            more = f" See {upgrade.name} on the pricing page: {upgrade_url(upgrade)}" if upgrade else ""
            messages.error(request, f"{bot.name}: {error}{more}")
        else:
            messages.success(request, f"Bot {bot.name} {'started' if start else 'stopped'}.")
        return redirect_back(request, fallback=reverse("bots:list"))
    bot = selectors.bot_for(user=request.user, bot_id=bot.pk)
    context = {"bot": bot, "error": error, "upgrade": upgrade, "actions": True, "actions_oob": True}
    return render(request, "bots/_status.html", context, status=422 if error else 200)


@login_required
@require_POST
def kill_switch(request: HttpRequest) -> HttpResponse:
    engaged = request.POST.get("engaged") == "on"
    reason = request.POST.get("reason", "").strip()[:200]
    stopped = kill_switch_set(user=request.user, engaged=engaged, actor=request.user, reason=reason, request=request)
    if engaged:
        message = f"Your kill switch is on. {stopped} bot{'s' if stopped != 1 else ''} stopped."
    else:
        message = "Your kill switch is off. Your bots stay stopped until you start them."
    if not request.htmx:
        messages.success(request, message)
        return redirect("bots:list")
    context = {"switches": selectors.kill_switches_for(user=request.user), "actions": True, "actions_oob": True}
    response = render(request, "bots/_kill_banner.html", context)
    # The bots' rows change too (stopped): the list reloads them from the server.
    response["HX-Trigger"] = "botsChanged"
    return response


@login_required
@require_GET
def bot_rows(request: HttpRequest) -> HttpResponse:
    """The list's bots, re-rendered after the kill switch changed them."""
    return render(request, "bots/list.html#rows", {"bots": selectors.bots_for(user=request.user)})


# --- Signals -----------------------------------------------------------------------


@login_required
@require_GET
def signals(request: HttpRequest) -> HttpResponse:
    # Markets without running bots are decided on only while someone watches this page.
    signals_watch()
    overview = selectors.signals_overview()[:SIGNALS_MAX_MARKETS]
    if request.htmx and request.htmx.target == "signals-watch":
        return HttpResponse(status=204)
    strategies = [STRATEGY_LABELS.get(name, (name, ""))[0] for name in selectors.signal_strategies()]
    return render(request, "bots/signals.html", {"signals": overview, "strategies": strategies})


# --- Backtests -----------------------------------------------------------------------


@login_required
@require_GET
def backtest_list(request: HttpRequest) -> HttpResponse:
    backtests = [selectors.with_report(b) for b in selectors.backtests_for(user=request.user)]
    compare, compare_error = [], ""
    wanted = request.GET.getlist("compare")
    if wanted:
        try:
            ids = sorted({int(pk) for pk in wanted})
        except ValueError:
            raise Http404("No such backtest.") from None
        # Counted before any is read: a query string can name up to a thousand.
        if not 2 <= len(ids) <= 4:
            compare_error = "Choose two to four backtests to compare."
        else:
            compare = [selectors.with_report(_backtest_or_404(request, pk)) for pk in ids]
            if any(b.report is None for b in compare):
                compare_error = "Only finished backtests can be compared."
                compare = []
    context = {
        "backtests": backtests,
        "compare": compare,
        "compare_rows": selectors.compare_rows(compare),
        "compare_curves": selectors.compare_curves(compare),
        "compare_error": compare_error,
    }
    return render(request, "bots/backtests.html", context, status=422 if compare_error else 200)


@login_required
@require_http_methods(["GET", "POST"])
@rate_limited("backtests")
def backtest_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        initial = {}
        if bot_id := request.GET.get("bot"):
            if not bot_id.isdigit():
                raise Http404("No such bot.")
            bot = _bot_or_404(request, int(bot_id))
            initial = BotForm.initial_for(bot) | {"name": f"{bot.name} backtest"}
            initial.pop("account", None)
        elif backtest_id := request.GET.get("backtest"):
            if not backtest_id.isdigit():
                raise Http404("No such backtest.")
            initial = backtest_settings_initial(_backtest_or_404(request, int(backtest_id)))
        form = BacktestForm(initial=initial)
        return render(request, "bots/backtest_form.html", {"form": form})

    form = BacktestForm(request.POST)
    validate_only = request.POST.get("validate") == "1"
    valid = form.is_valid()
    data = form.cleaned_data
    what = {name: data.get(name) for name in ("market", "source", "start", "end", "seed", "length")}
    what["settings"] = form.settings(BACKTEST_SETTINGS)
    if what["market"] is not None:
        # The service's checks come with the form's own, in one round; the period once both ends read.
        errors = backtest_errors(**what)
        if what["start"] is None or what["end"] is None:
            errors = {field: message for field, message in errors.items() if field not in ("start", "end")}
        form.merge_service_errors(errors)
    if valid and not form.errors and not validate_only:
        try:
            backtest = backtest_create(user=request.user, name=data["name"], decision=form.decision, **what)
        except ValidationError as error:
            form.add_service_errors(_error_messages(error))
        else:
            url = reverse("bots:backtest", args=[backtest.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    status = 422 if form.errors else 200
    if validate_only:
        return render(request, "bots/_errors_oob.html", {"form": form}, status=status)
    if request.htmx:
        return render(request, "bots/backtest_form.html#backtest-form", {"form": form}, status=status)
    return render(request, "bots/backtest_form.html", {"form": form}, status=status)


@login_required
@require_GET
def backtest_detail(request: HttpRequest, backtest_id: int) -> HttpResponse:
    backtest = selectors.with_report(_backtest_or_404(request, backtest_id))
    context = {
        "backtest": backtest,
        "trades": selectors.backtest_trades_page(backtest=backtest, page=request.GET.get("page")),
    }
    if request.htmx and request.htmx.target == "backtest-trades":
        return render(request, "bots/backtest_detail.html#trades", context)
    if request.htmx and request.htmx.target == "backtest-result":
        return render(request, "bots/backtest_detail.html#result", context)
    return render(request, "bots/backtest_detail.html", context)
