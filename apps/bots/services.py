"""Bots: configuration, start and stop, kill switches, and the decision cycle with its fan-out.

The cycle, per market and tick: the regime is read once; each distinct
strategy configuration of the running bots decides once (`markets_decide`);
each decision that says trade fans out to every running bot with that
configuration (`decision_execute`), whose risk manager sizes or refuses, and
the approved contracts are bought in one `contracts_buy_many`. A decision is
claimed once (`executed_at`), and contracts carry the key
`bot:<bot>:decision:<decision>`, so a retried or doubled task buys nothing
twice.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import audit_log
from apps.common.bulk import insert_rows
from apps.common.events import send_after_commit
from apps.markets.models import Market, Tick
from apps.notifications.models import Kind
from apps.notifications.services import NewNotification, notifications_create
from apps.realtime.push import push_user_state_after_commit
from apps.trading.models import MINUTE_DURATIONS, TICK_DURATIONS, DurationUnit
from apps.trading.services import Buyer, Order, account_unavailable, contracts_buy_many, market_refusal

from .engine import risk
from .engine.config import REGIME_WINDOW, DecisionConfig
from .engine.regime import RegimeKind, classify
from .models import (
    RISK_SETTING_FIELDS,
    RISK_STATE_FIELDS,
    Bot,
    BotSkip,
    BotStatus,
    BotTrade,
    Decision,
    KillSwitch,
    RegimeRecord,
    SkipReason,
    StrategyConfig,
    risk_settings_of,
    risk_state_of,
)
from .signals import signals_decided

logger = logging.getLogger(__name__)

# Fields a trader sets on a bot (besides its strategy configuration).
BOT_SETTINGS = ("name", "account", "market", "blocked_regimes", "duration", "duration_unit", *RISK_SETTING_FIELDS)


def today() -> date:
    return timezone.now().date()


# --- Configuration ----------------------------------------------------------


def strategy_config_for(decision: DecisionConfig) -> StrategyConfig:
    config, _ = StrategyConfig.objects.get_or_create(
        key=decision.key,
        defaults={
            "strategies": {s.name: s.params() for s in decision.built},
            "min_agreeing": decision.min_agreeing,
            "min_confidence": Decimal(decision.min_confidence).quantize(Decimal("0.01")),
        },
    )
    return config


@lru_cache(maxsize=1)
def _default_decision() -> DecisionConfig:
    return DecisionConfig()


def default_config() -> StrategyConfig:
    """All four strategies with their defaults: what the signals monitor shows on every market."""
    return strategy_config_for(_default_decision())


def bot_errors(bot: Bot) -> dict[str, str]:
    """Every problem with a bot's settings, by field, in a trader's words."""
    errors: dict[str, str] = {}
    refusal = (
        bot.account_id and bot.market_id and market_refusal(account=bot.account, market=bot.market, check_prices=False)
    )
    if refusal:
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
    if bot.duration_unit == DurationUnit.TICKS and bot.duration not in TICK_DURATIONS:
        errors["duration"] = "Tick contracts last 1 to 10 ticks."
    elif bot.duration_unit == DurationUnit.MINUTES and bot.duration not in MINUTE_DURATIONS:
        errors["duration"] = "Choose 1, 5, 15, 30 or 60 minutes."
    elif bot.duration_unit not in DurationUnit.values:
        errors["duration"] = "Choose ticks or minutes."
    return errors


def _check(bot: Bot) -> None:
    if errors := bot_errors(bot):
        raise ValidationError(errors)


def bot_create(*, user, decision: DecisionConfig, settings: dict, request=None) -> Bot:
    """A new, stopped bot. `settings` holds BOT_SETTINGS; ValidationError names each bad field."""
    with transaction.atomic():
        bot = Bot(user=user, config=strategy_config_for(decision), **settings)
        if bot.account.user_id != user.pk:
            raise ValidationError({"account": "Choose one of your accounts."})
        _check(bot)
        bot.save()
        audit_log(actor=user, action="bot.create", target=bot, request=request, data=_describe(bot))
    push_user_state_after_commit([user.pk])
    return bot


def bot_update(*, user, bot: Bot, decision: DecisionConfig, settings: dict, request=None) -> Bot:
    """Change a bot's settings, running or not: the next decision reads them. Audited with what changed."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update().select_related("market", "account").get(pk=bot.pk, user=user)
        before = _describe(bot)
        bot.config = strategy_config_for(decision)
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
    push_user_state_after_commit([user.pk])
    return bot


def _describe(bot: Bot) -> dict:
    data = {name: getattr(bot, name) for name in BOT_SETTINGS if name not in ("account", "market")}
    data |= {"account": bot.account_id, "market": bot.market_id, "running": bot.is_running}
    data |= {"strategies": bot.config.strategies, "min_agreeing": bot.config.min_agreeing}
    data["min_confidence"] = bot.config.min_confidence
    return {k: v if isinstance(v, bool | int | list | dict) or v is None else str(v) for k, v in data.items()}


# --- Start, stop, kill switches ---------------------------------------------


def engaged_switches() -> set[int | None]:
    """User ids whose kill switch is on; None in the set means the global one."""
    return set(KillSwitch.objects.filter(engaged=True).values_list("user_id", flat=True))


def bot_start(*, user, bot_id: int, request=None) -> Bot:
    """Start a stopped bot. Two start requests at once start it once; a running bot is left as it is."""
    with transaction.atomic():
        bot = (
            Bot.objects.select_for_update()
            .select_related("market", "account__ledger_account", "config")
            .get(pk=bot_id, user=user)
        )
        if bot.is_running:
            return bot
        if refusal := market_refusal(account=bot.account, market=bot.market, check_prices=False):
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
    push_user_state_after_commit([user.pk])
    return bot


def bot_stop(*, user, bot_id: int, request=None) -> Bot:
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot_id, user=user)
        if bot.is_running:
            _stop([bot.pk], reason="BY_USER", detail="You stopped the bot.", notify=False)
            audit_log(actor=user, action="bot.stop", target=bot, request=request)
        bot.refresh_from_db()
    push_user_state_after_commit([user.pk])
    return bot


def bots_stop_by_staff(*, bot_ids: list[int], actor=None, detail: str = "Stopped by staff.") -> int:
    with transaction.atomic():
        stopped = _stop(bot_ids, reason="BY_STAFF", detail=detail)
        for bot_id in stopped:
            audit_log(actor=actor, action="bot.stop", data={"bot": bot_id, "by": "staff"})
    return len(stopped)


def _stop(bot_ids, *, reason: str, detail: str, notify: bool = True) -> list[int]:
    """Stop those of `bot_ids` still running: one conditional update, one notice per bot, pushed after commit."""
    bots = list(Bot.objects.filter(pk__in=bot_ids, status=BotStatus.RUNNING).values_list("pk", "user_id", "name"))
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
    push_user_state_after_commit({user_id for _, user_id, _ in bots})
    return [pk for pk, _, _ in bots]


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
        if not engaged:
            return 0
        bots = Bot.objects.filter(status=BotStatus.RUNNING)
        if user is not None:
            bots = bots.filter(user=user)
        code = risk.StopReason.USER_KILL_SWITCH if user is not None else risk.StopReason.GLOBAL_KILL_SWITCH
        detail = f"{code.label[0].upper()}{code.label[1:]}" + (f": {reason}" if reason else ".")
        return len(_stop(list(bots.values_list("pk", flat=True)), reason=code, detail=detail))


# --- The decision cycle -------------------------------------------------------


# While someone has the signals monitor open, every active market is decided
# on, bots or not; otherwise only markets with running bots cost a cycle.
SIGNALS_WATCHED_KEY = "bots:signals-watched"
SIGNALS_WATCH_S = 120


def signals_watch() -> None:
    """The monitor page (and its periodic refresh) keeps every market's signals computed a while longer."""
    cache.set(SIGNALS_WATCHED_KEY, True, SIGNALS_WATCH_S)


def markets_to_decide(market_ids: list[int]) -> list[int]:
    if cache.get(SIGNALS_WATCHED_KEY):
        return sorted(market_ids)
    running = Bot.objects.filter(market_id__in=market_ids, status=BotStatus.RUNNING)
    return sorted(set(running.values_list("market_id", flat=True)))


def markets_decide(market_ids: list[int]) -> list[Decision]:
    """Decide on each market's latest tick, once per distinct configuration in use."""
    decisions = []
    for market in Market.objects.filter(pk__in=market_ids, is_active=True):
        decisions += market_decide(market)
    return decisions


_configs: dict[str, DecisionConfig] = {}


def _decision_config(config: StrategyConfig) -> DecisionConfig:
    if config.key not in _configs:
        _configs[config.key] = config.decision_config
    return _configs[config.key]


def market_decide(market: Market) -> list[Decision]:
    """The regime and one decision per distinct configuration in use (plus the default) on the latest tick."""
    # One row per configuration, not one per bot using it.
    in_use = StrategyConfig.objects.filter(bots__market=market, bots__status=BotStatus.RUNNING).distinct()
    configs = {c.pk: c for c in in_use}
    monitor = default_config()
    configs.setdefault(monitor.pk, monitor)
    window = max(REGIME_WINDOW, *(_decision_config(c).window for c in configs.values()))
    ticks = list(Tick.objects.filter(market=market).order_by("-seq").values_list("seq", "time", "price")[:window])
    if not ticks:
        return []
    ticks.reverse()
    prices = [price for _, _, price in ticks]
    seq, tick_time, price = ticks[-1]
    existing = {d.config_id: d for d in Decision.objects.filter(market=market, seq=seq, config_id__in=configs)}
    missing = [c for pk, c in configs.items() if pk not in existing]
    if not missing:
        return list(existing.values())
    regime = classify(prices[-REGIME_WINDOW:])
    now = timezone.now()
    rows = []
    for config in missing:
        decision = _decision_config(config).evaluate(prices)
        rows.append(
            Decision(
                market=market,
                config=config,
                seq=seq,
                tick_time=tick_time,
                price=price,
                direction=decision.direction,
                confidence=Decimal(str(round(decision.confidence, 4))),
                reason=decision.reason[:300],
                votes=[
                    {"strategy": v.strategy, "direction": v.direction, "confidence": v.confidence, "reason": v.reason}
                    for v in decision.votes
                ],
                regime=regime.kind,
                regime_confidence=Decimal(str(regime.confidence)),
                regime_reason=regime.reason[:300],
                decided_at=now,
            )
        )
    with transaction.atomic():
        RegimeRecord.objects.bulk_create(
            [
                RegimeRecord(
                    market=market,
                    seq=seq,
                    time=tick_time,
                    kind=regime.kind,
                    confidence=Decimal(str(regime.confidence)),
                    reason=regime.reason[:300],
                )
            ],
            ignore_conflicts=True,
        )
        Decision.objects.bulk_create(rows, ignore_conflicts=True)
    send_after_commit(signals_decided, sender=Decision, market_ids=[market.pk])
    return list(Decision.objects.filter(market=market, seq=seq, config_id__in=configs).select_related("market"))


@dataclass
class Execution:
    bought: int = 0
    skipped: int = 0
    stopped: int = 0


# What the fan-out reads of each bot: one `.values()` row, no model instances.
_FANOUT_FIELDS = (
    "pk",
    "user_id",
    "name",
    "blocked_regimes",
    "duration",
    "duration_unit",
    *RISK_SETTING_FIELDS,
    *RISK_STATE_FIELDS,
    "account_id",
    "account__type",
    "account__label",
    "account__currency",
    "account__ledger_account_id",
    "account__ledger_account__realm",
)


def decision_execute(decision_id: int) -> Execution:
    """Fan one decision out to its running bots: size, buy in bulk, record trades, skips and stops."""
    with transaction.atomic():
        now = timezone.now()
        # The claim: a second run of this task (retry, duplicate) finds it taken.
        claimed = Decision.objects.filter(pk=decision_id, executed_at=None).exclude(direction="NONE")
        if not claimed.update(executed_at=now):
            return Execution()
        decision = Decision.objects.select_related("market").get(pk=decision_id)
        market = decision.market
        rows = Bot.objects.filter(market=market, config_id=decision.config_id, status=BotStatus.RUNNING)
        rows = list(rows.order_by("pk").values(*_FANOUT_FIELDS))
        engaged = engaged_switches()
        day = now.date()
        states: dict[int, risk.RiskState] = {}
        orders, planned, skips, stops = [], [], [], []
        for row in rows:
            state = states[row["pk"]] = risk.roll_day(risk_state_of(row), day)
            if decision.regime in row["blocked_regimes"]:
                skips.append(
                    (row, SkipReason.REGIME, f"The market is {decision.regime.lower()}, a regime this bot skips.")
                )
                continue
            switches = risk.KillSwitches(user=row["user_id"] in engaged, platform=None in engaged)
            sizing = risk.size(risk_settings_of(row, market), state, kill_switches=switches)
            if sizing.stop:
                stops.append((row, sizing.stop, sizing.reason))
            elif sizing.stake is None:
                skips.append((row, SkipReason.RISK, sizing.reason))
            else:
                buyer = Buyer(
                    row["account_id"],
                    row["user_id"],
                    row["account__type"],
                    row["account__label"],
                    row["account__currency"],
                    row["account__ledger_account_id"],
                    row["account__ledger_account__realm"],
                )
                orders.append(
                    Order(
                        account=buyer,
                        direction=decision.direction,
                        stake=sizing.stake,
                        duration=row["duration"],
                        duration_unit=row["duration_unit"],
                        idempotency_key=f"bot:{row['pk']}:decision:{decision.pk}",
                        note={"bot": row["pk"], "decision": decision.pk},
                        notify_result=False,
                    )
                )
                planned.append((row, sizing))
        trades = []
        for (row, sizing), bought in zip(planned, contracts_buy_many(market=market, orders=orders), strict=True):
            if isinstance(bought, ValidationError):
                if not account_unavailable(bought):
                    # A Deriv account that is disconnected pauses the bot: skipped, not an error.
                    states[row["pk"]] = risk.after_error(states[row["pk"]])
                skips.append((row, SkipReason.REJECTED, " ".join(bought.messages)))
            else:
                states[row["pk"]] = risk.after_buy(states[row["pk"]], stake=sizing.stake)
                trades.append((row["pk"], decision.pk, bought, sizing.stake, sizing.reason[:300]))
        at = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            insert_rows(cursor, BotTrade, _TRADE_FIELDS, [(*trade, at, False) for trade in trades])
        last_skips = {row["pk"]: detail for row, _, detail in skips}
        _save_states([(pk, state, last_skips.get(pk, "")) for pk, state in states.items()], now)
        _count_skips([(row["pk"], reason, detail) for row, reason, detail in skips], day, now)
        for code in {code for _, code, _ in stops}:
            same = [(row, detail) for row, c, detail in stops if c == code]
            _stop([row["pk"] for row, _ in same], reason=code, detail=same[0][1])
        result = Execution(bought=len(trades), skipped=len(skips), stopped=len(stops))
    logger.info("decision %s on %s: %s", decision_id, market.symbol, result)
    return result


_TRADE_FIELDS = ("bot", "decision", "contract", "stake", "sizing", "created_at", "result_applied")


def _save_states(states: list[tuple[int, risk.RiskState, str | None]], now) -> None:
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


def _count_skips(skips, day: date, now) -> None:
    """Add this decision's skips to each bot's count for the day and reason (one upsert)."""
    if not skips:
        return
    table = connection.ops.quote_name(BotSkip._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (bot_id, day, reason, count, last_detail, last_at) VALUES (%s, %s, %s, 1, %s, %s) "
            "ON CONFLICT (bot_id, day, reason) DO UPDATE SET count = "
            f"{table}.count + 1, last_detail = excluded.last_detail, last_at = excluded.last_at",
            [(pk, connection.ops.adapt_datefield_value(day), reason, detail[:300], at) for pk, reason, detail in skips],
        )


def decision_failed(decision_id: int) -> None:
    """A fan-out that raised counts one error against each of its bots (five in a row stop them)."""
    decision = Decision.objects.filter(pk=decision_id).values("market_id", "config_id").first()
    if decision is not None:
        Bot.objects.filter(status=BotStatus.RUNNING, **decision).update(consecutive_errors=F("consecutive_errors") + 1)


def results_apply(results: list[tuple[int, str, Decimal, Decimal]]) -> None:
    """Settled contracts of bots update their risk state; a bot whose limit is now reached stops at once.

    Called inside the settlement's transaction, so each result is applied exactly once.
    """
    by_contract = {pk: (stake, paid) for pk, _, stake, paid in results}
    trades = list(
        BotTrade.objects.filter(contract_id__in=by_contract, result_applied=False)
        .order_by("contract_id")
        .values_list("pk", "contract_id", "bot_id")
    )
    if not trades:
        return
    rows = Bot.objects.filter(pk__in={bot_id for _, _, bot_id in trades})
    bots = {
        row["pk"]: row
        for row in rows.values("pk", "user_id", "status", "market_id", *RISK_SETTING_FIELDS, *RISK_STATE_FIELDS)
    }
    markets = Market.objects.in_bulk({row["market_id"] for row in bots.values()})
    states = {pk: risk.roll_day(risk_state_of(row), today()) for pk, row in bots.items()}
    for _, contract_id, bot_id in trades:
        stake, paid = by_contract[contract_id]
        settings = risk_settings_of(bots[bot_id], markets[bots[bot_id]["market_id"]])
        states[bot_id] = risk.after_result(settings, states[bot_id], stake=stake, profit=paid - stake)
    BotTrade.objects.filter(pk__in=[pk for pk, _, _ in trades]).update(result_applied=True)
    _save_states([(pk, state, None) for pk, state in states.items()], timezone.now())
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
        _stop(ids, reason=code, detail=detail)
    push_user_state_after_commit({row["user_id"] for row in bots.values()})
