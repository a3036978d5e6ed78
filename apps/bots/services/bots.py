"""Bots: create and edit, start and stop, kill switches, staff stops, and settled results.

Every change to a trader's bots is told after commit through `bots_changed`
with the owners' ids (realtime pushes their bots' live fragments).
"""

from collections import defaultdict
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.audit.services import audit_log
from apps.billing.entitlements import feature_refusal, limit_refusal, plans_in_force
from apps.common.events import send_after_commit
from apps.markets.models import Market
from apps.notifications.models import Kind
from apps.notifications.services import NewNotification, notifications_create
from apps.trading.limits import trading_refusal_text
from apps.trading.models import duration_error
from apps.trading.services import market_refusal
from apps.users.selectors import user_timezone

from ..engine import risk
from ..engine.config import DecisionConfig
from ..engine.regime import RegimeKind
from ..models import (
    RISK_SETTING_FIELDS,
    RISK_STATE_FIELDS,
    Bot,
    BotStatus,
    BotTrade,
    KillSwitch,
    StrategyConfig,
    risk_settings_of,
    risk_state_of,
)
from ..selectors import engaged_switches
from ..shared import today
from ..signals import bots_changed

# Fields a trader sets on a bot (besides its strategy configuration).
BOT_SETTINGS = ("name", "account", "market", "blocked_regimes", "duration", "duration_unit", *RISK_SETTING_FIELDS)


def strategy_config_for(*, decision: DecisionConfig) -> StrategyConfig:
    """The stored row of a configuration, created the first time a bot (or the monitor) uses it."""
    config, _ = StrategyConfig.objects.get_or_create(
        key=decision.key,
        defaults={
            "strategies": {s.name: s.params() for s in decision.built},
            "min_agreeing": decision.min_agreeing,
            "min_confidence": Decimal(decision.min_confidence).quantize(Decimal("0.01")),
        },
    )
    return config


def _market_refusal(bot: Bot) -> str | None:
    # Prices are not checked: a bot is set up or started ahead of its trades.
    return market_refusal(account=bot.account, market=bot.market, check_prices=False)


def bot_errors(*, bot: Bot) -> dict[str, str | ValidationError]:
    """Every problem with a bot's settings, by field, in a trader's words (a plan's refusal keeps its code)."""
    errors: dict[str, str | ValidationError] = {}
    plan_refusal = (
        bot.account_id
        and bot.account.type == AccountType.DERIV_REAL
        and feature_refusal(bot.user_id and bot.user, "deriv_real_trading")
    )
    if plan_refusal:
        # Said on the account, with the plan that trades it (an Upgrade link on the form).
        errors["account"] = plan_refusal.error()
    elif refusal := bot.account_id and bot.market_id and _market_refusal(bot):
        errors["market"] = refusal
    if bot.market_id:
        settings_errors = bot.risk_settings().errors()
        for name, message in settings_errors.items():
            # The market's own limits are not the trader's to fix: say it on the stake.
            errors["base_stake" if name.startswith("market_") else name] = message
    unknown = set(bot.blocked_regimes) - set(RegimeKind)
    if unknown or not isinstance(bot.blocked_regimes, list):
        errors["blocked_regimes"] = "Choose regimes among bullish, bearish and sideways."
    elif len(set(bot.blocked_regimes)) == len(RegimeKind):
        errors["blocked_regimes"] = "Blocking every regime would never let the bot trade."
    if message := duration_error(bot.duration, bot.duration_unit):
        errors["duration"] = message
    return errors


def _check(bot: Bot) -> None:
    if errors := bot_errors(bot=bot):
        raise ValidationError(errors)


def _changed(user_ids) -> None:
    send_after_commit(bots_changed, sender=Bot, user_ids=sorted(set(user_ids)))


def bot_create(*, user, decision: DecisionConfig, settings: dict, request=None) -> Bot:
    """A new, stopped bot. `settings` holds BOT_SETTINGS; ValidationError names each bad field."""
    with transaction.atomic():
        bot = Bot(user=user, config=strategy_config_for(decision=decision), **settings)
        if bot.account.user_id != user.pk:
            raise ValidationError({"account": "Choose one of your accounts."})
        _check(bot)
        _lock_user(user)
        # Bots kept over the limit after a downgrade stay; a new one waits until the trader is under it.
        if refusal := limit_refusal(user, "max_bots", wanted=Bot.objects.filter(user=user).count() + 1):
            raise refusal.error()
        bot.save()
        audit_log(actor=user, action="bot.create", target=bot, request=request, data=_describe(bot))
    _changed([user.pk])
    return bot


def _lock_user(user) -> None:
    """The trader's row serialises their plan-limited writes: two at once cannot both pass a limit."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def bot_update(*, user, bot: Bot, decision: DecisionConfig, settings: dict, request=None) -> Bot:
    """Change a bot's settings, running or not: the next decision reads them. Audited with what changed."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update().select_related("market", "account").get(pk=bot.pk, user=user)
        before = _describe(bot)
        bot.config = strategy_config_for(decision=decision)
        for name, value in settings.items():
            setattr(bot, name, value)
        if bot.account.user_id != user.pk:
            raise ValidationError({"account": "Choose one of your accounts."})
        _check(bot)
        bot.save()
        after = _describe(bot)
        changed = {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}
        if changed:
            audit_log(actor=user, action="bot.update", target=bot, request=request, data={"changed": changed})
    _changed([user.pk])
    return bot


def _describe(bot: Bot) -> dict:
    data = {name: getattr(bot, name) for name in BOT_SETTINGS if name not in ("account", "market")}
    data |= {"account": bot.account_id, "market": bot.market_id, "running": bot.is_running}
    data |= {"strategies": bot.config.strategies, "min_agreeing": bot.config.min_agreeing}
    data["min_confidence"] = bot.config.min_confidence
    return {k: v if isinstance(v, bool | int | list | dict) or v is None else str(v) for k, v in data.items()}


# --- Start, stop, kill switches ---------------------------------------------


def bot_start(*, user, bot_id: int, request=None) -> Bot:
    """Start a stopped bot. Two start requests at once start it once; a running bot is left as it is."""
    with transaction.atomic():
        _lock_user(user)
        bot = (
            Bot.objects.select_for_update()
            .select_related("market", "account__ledger_account", "config")
            .get(pk=bot_id, user=user)
        )
        if bot.is_running:
            return bot
        if bot.account.type == AccountType.DERIV_REAL and (refusal := feature_refusal(user, "deriv_real_trading")):
            raise refusal.error()
        running = Bot.objects.filter(user=user, status=BotStatus.RUNNING).count()
        if refusal := limit_refusal(user, "max_running_bots", wanted=running + 1):
            raise refusal.error()
        if refusal := _market_refusal(bot) or trading_refusal_text(user=user):
            raise ValidationError(refusal)
        _check(bot)
        engaged = engaged_switches()
        switches = risk.KillSwitches(user=user.pk in engaged, platform=None in engaged)
        if bot.day is None:
            state = risk.start(day=today(), equity=bot.account.ledger_account.balance)
        else:
            state = risk.restart(risk.roll_day(bot.risk_state(), today()))
        sizing = risk.size(bot.risk_settings(), state, kill_switches=switches)
        if sizing.stop:
            raise ValidationError(f"The bot cannot start: {sizing.reason}")
        bot.set_risk_state(state)
        bot.status, bot.stopped_reason, bot.stop_detail = BotStatus.RUNNING, "", ""
        bot.started_at, bot.last_skip = timezone.now(), ""
        bot.save()
        audit_log(actor=user, action="bot.start", target=bot, request=request)
    _changed([user.pk])
    return bot


def bot_stop(*, user, bot_id: int, request=None) -> Bot:
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot_id, user=user)
        if bot.is_running:
            # Tells bots_changed itself.
            bots_stop(bot_ids=[bot.pk], reason="BY_USER", detail="You stopped the bot.", notify=False)
            audit_log(actor=user, action="bot.stop", target=bot, request=request)
        else:
            _changed([user.pk])
        bot.refresh_from_db()
    return bot


def _bots(n: int) -> str:
    return f"{n} bot{'s' if n != 1 else ''}"


def bots_fit_plan(*, user_id: int) -> list[int]:
    """Stop the trader's running bots that their plan in force no longer allows; returns the ids stopped.

    Bots on Deriv real accounts stop when the plan does not trade them; then, beyond the plan's
    running-bot limit, the most recently started stop and the earliest-started keep running. Nothing
    is deleted: bots over the plan's total stay, stopped or not. One notification says which stopped.
    """
    plan = plans_in_force([user_id])[user_id]
    with transaction.atomic():
        running = list(
            Bot.objects.select_for_update()
            .filter(user_id=user_id, status=BotStatus.RUNNING)
            .select_related("account")
            .order_by("started_at", "pk")
        )
        stop, reasons = [], []
        if not plan.deriv_real_trading:
            real = [bot for bot in running if bot.account.type == AccountType.DERIV_REAL]
            if real:
                stop += real
                reasons.append("does not trade Deriv real accounts")
        kept = [bot for bot in running if bot not in stop]
        if plan.max_running_bots is not None and len(kept) > plan.max_running_bots:
            stop += kept[plan.max_running_bots :]
            reasons.append(f"which runs {_bots(plan.max_running_bots)} at a time")
        if not stop:
            return []
        why = " and ".join(reasons)
        if not why.startswith("which"):
            why = f"which {why}"
        names = ", ".join(bot.name for bot in stop)
        detail = f"Your plan is now {plan.name}, {why}."
        stopped = bots_stop(bot_ids=[bot.pk for bot in stop], reason="PLAN_LIMIT", detail=detail, notify=False)
        for bot_id in stopped:
            audit_log(actor=None, action="bot.stop", data={"bot": bot_id, "by": "plan", "plan": plan.code})
        notifications_create(
            [
                NewNotification(
                    user_id=user_id,
                    kind=Kind.BOT_STOPPED,
                    title=f"{_bots(len(stopped)).capitalize()} stopped: over your {plan.name} plan"[:120],
                    body=(
                        f"Your plan is now {plan.name}, {why}: stopped {names}. "
                        "Stop and start bots to choose which one runs."
                    )[:500],
                    link=reverse("bots:list"),
                )
            ]
        )
    return stopped


def bots_stop_by_staff(*, bot_ids: list[int], actor=None, detail: str = "Stopped by staff.") -> int:
    with transaction.atomic():
        stopped = bots_stop(bot_ids=bot_ids, reason="BY_STAFF", detail=detail)
        for bot_id in stopped:
            audit_log(actor=actor, action="bot.stop", data={"bot": bot_id, "by": "staff"})
    return len(stopped)


def bots_stop(*, bot_ids, reason: str, detail: str, notify: bool = True) -> list[int]:
    """Stop those of `bot_ids` still running: one conditional update, one notice per bot, told after commit.

    The stop of every path (trader, staff, kill switch, risk manager in the cycle); returns the ids stopped.
    """
    running = Bot.objects.filter(pk__in=bot_ids, status=BotStatus.RUNNING)
    # Locked in id order (a fan-out locks its bots the same way), so the update below waits for nobody.
    bots = list(running.select_for_update(no_key=True).order_by("pk").values_list("pk", "user_id", "name"))
    if not bots:
        return []
    Bot.objects.filter(pk__in=[pk for pk, _, _ in bots], status=BotStatus.RUNNING).update(
        status=BotStatus.STOPPED, stopped_reason=reason, stop_detail=detail[:300], stopped_at=timezone.now()
    )
    label = dict(Bot._meta.get_field("stopped_reason").choices)[reason]
    if notify:
        notifications_create(
            NewNotification(
                user_id=user_id,
                kind=Kind.BOT_STOPPED,
                title=f"Bot {name} stopped: {label.lower()}"[:120],
                body=detail[:500],
                link=reverse("bots:detail", args=[pk]),
            )
            for pk, user_id, name in bots
        )
    _changed(user_id for _, user_id, _ in bots)
    return [pk for pk, _, _ in bots]


def bots_of_user_stop(*, user_id: int, reason: str, until) -> list[int]:
    """Stop every running bot of a trader who paused their trading until `until` (one notice per bot)."""
    user = get_user_model().objects.get(pk=user_id)
    ends = timezone.localtime(until, user_timezone(user)).strftime("%d %b %Y %H:%M %Z")
    running = Bot.objects.filter(user_id=user_id, status=BotStatus.RUNNING).values_list("pk", flat=True)
    return bots_stop(bot_ids=list(running), reason=reason, detail=f"You paused your trading until {ends}.")


def kill_switch_set(*, user=None, engaged: bool, actor=None, reason: str = "", request=None) -> int:
    """Engage or release a user's kill switch (`user`) or the global one (no `user`).

    Engaging stops every bot it covers at once, and the fan-out refuses new
    bot trades while it is on. Releasing starts nothing: bots wait for their
    trader. Returns the number of bots stopped.
    """
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(user=user)
        switch.engaged, switch.reason, switch.changed_by = engaged, reason[:200], actor
        switch.save()
        scope = "global" if user is None else f"user:{user.pk}"
        audit_log(
            actor=actor,
            action="bot.kill_switch.engage" if engaged else "bot.kill_switch.release",
            request=request,
            data={"scope": scope, "reason": reason},
        )
        stopped = []
        if engaged:
            bots = Bot.objects.filter(status=BotStatus.RUNNING)
            if user is not None:
                bots = bots.filter(user=user)
            code = risk.StopReason.USER_KILL_SWITCH if user is not None else risk.StopReason.GLOBAL_KILL_SWITCH
            detail = f"{code.label[0].upper()}{code.label[1:]}" + (f": {reason}" if reason else ".")
            stopped = bots_stop(bot_ids=list(bots.values_list("pk", flat=True)), reason=code, detail=detail)
    if user is not None:
        # The trader's banner shows their switch; the global one's users hear of it through their stopped bots.
        _changed([user.pk])
    return len(stopped)


# --- Risk state after trades and results ---------------------------------------


def risk_states_save(*, states: list[tuple[int, risk.RiskState, str | None]], now) -> None:
    """One prepared statement for every bot: its risk state and, after a decision (last skip not None),
    the decision's time and the last skip."""
    if not states:
        return
    decided = states[0][2] is not None
    table = connection.ops.quote_name(Bot._meta.db_table)
    columns = (*RISK_STATE_FIELDS, "last_skip", "last_decision_at") if decided else RISK_STATE_FIELDS
    assignments = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
    at = connection.ops.adapt_datetimefield_value(now)
    adapt_day = connection.ops.adapt_datefield_value
    params = []
    for pk, state, last_skip in states:
        values = [adapt_day(state.day) if name == "day" else getattr(state, name) for name in RISK_STATE_FIELDS]
        params.append((*values, last_skip[:300], at, pk) if decided else (*values, pk))
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", params)


def results_apply(*, results: list[tuple[int, str, Decimal, Decimal]]) -> None:
    """Settled contracts of bots update their risk state; a bot whose limit is now reached stops at once.

    Called inside the settlement's transaction, so each result is applied exactly once, and before its
    ledger writes: the bots' rows are locked in id order before their state is read (a fan-out buying for
    them meanwhile waits, or is waited for), and before any ledger account (the ledger's lock order).
    """
    by_contract = {pk: (stake, paid) for pk, _, stake, paid in results}
    trades = list(
        BotTrade.objects.filter(contract_id__in=by_contract, result_applied=False)
        .order_by("contract_id")
        .values_list("pk", "contract_id", "bot_id")
    )
    if not trades:
        return
    rows = Bot.objects.filter(pk__in={bot_id for _, _, bot_id in trades}).select_for_update(no_key=True)
    bots = {
        row["pk"]: row
        for row in rows.order_by("pk").values(
            "pk", "user_id", "status", "market_id", *RISK_SETTING_FIELDS, *RISK_STATE_FIELDS
        )
    }
    markets = Market.objects.in_bulk({row["market_id"] for row in bots.values()})
    states = {pk: risk.roll_day(risk_state_of(row), today()) for pk, row in bots.items()}
    for _, contract_id, bot_id in trades:
        stake, paid = by_contract[contract_id]
        settings = risk_settings_of(bots[bot_id], markets[bots[bot_id]["market_id"]])
        states[bot_id] = risk.after_result(settings, states[bot_id], stake=stake, profit=paid - stake)
    BotTrade.objects.filter(pk__in=[pk for pk, _, _ in trades]).update(result_applied=True)
    risk_states_save(states=[(pk, state, None) for pk, state in states.items()], now=timezone.now())
    engaged = engaged_switches()
    stops = defaultdict(list)
    for pk, row in bots.items():
        if row["status"] != BotStatus.RUNNING:
            continue
        switches = risk.KillSwitches(user=row["user_id"] in engaged, platform=None in engaged)
        sizing = risk.size(risk_settings_of(row, markets[row["market_id"]]), states[pk], kill_switches=switches)
        if sizing.stop:
            stops[(sizing.stop, sizing.reason)].append(pk)
    for (code, detail), ids in stops.items():
        bots_stop(bot_ids=ids, reason=code, detail=detail)
    _changed(row["user_id"] for row in bots.values())
