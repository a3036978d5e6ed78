"""The decision cycle: decide once per configuration, fan each decision out to its bots.

Per market and tick: the regime is read once; each distinct strategy
configuration of the running bots decides once (`markets_decide`); each
decision that says trade fans out to every running bot with that
configuration (`decision_execute`), whose risk manager sizes or refuses, and
the approved contracts are bought in one `contracts_buy_many`. A decision is
claimed once (`executed_at`), and contracts carry the key
`bot:<bot>:decision:<decision>`, so a retried or doubled task buys nothing
twice.
"""

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.common.bulk import insert_rows
from apps.common.events import send_after_commit
from apps.markets.models import Market, Tick
from apps.trading.limits import refusal_code
from apps.trading.services import Buyer, Order, account_unavailable, contracts_buy_many

from ..engine import risk
from ..engine.config import REGIME_WINDOW, DecisionConfig
from ..engine.regime import classify
from ..models import (
    RISK_SETTING_FIELDS,
    RISK_STATE_FIELDS,
    Bot,
    BotSkip,
    BotStatus,
    BotTrade,
    Decision,
    RegimeRecord,
    SkipReason,
    StrategyConfig,
    risk_settings_of,
    risk_state_of,
)
from ..selectors import engaged_switches
from ..shared import SIGNALS_WATCHED_KEY, monitor_decision
from ..signals import signals_decided
from .bots import bots_stop, risk_states_save, strategy_config_for

logger = logging.getLogger(__name__)

SIGNALS_WATCH_S = 120


def signals_watch() -> None:
    """The monitor page (and its periodic refresh) keeps every market's signals computed a while longer."""
    cache.set(SIGNALS_WATCHED_KEY, True, SIGNALS_WATCH_S)


def markets_decide(*, market_ids: list[int]) -> list[Decision]:
    """Decide on each market's latest tick, once per distinct configuration in use."""
    decisions = []
    for market in Market.objects.filter(pk__in=market_ids, is_active=True):
        decisions += market_decide(market=market)
    return decisions


_configs: dict[str, DecisionConfig] = {}


def _decision_config(config: StrategyConfig) -> DecisionConfig:
    if config.key not in _configs:
        _configs[config.key] = config.decision_config
    return _configs[config.key]


def market_decide(*, market: Market) -> list[Decision]:
    """The regime and one decision per distinct configuration in use (plus the monitor's) on the latest tick."""
    # One row per configuration, not one per bot using it.
    in_use = StrategyConfig.objects.filter(bots__market=market, bots__status=BotStatus.RUNNING).distinct()
    configs = {c.pk: c for c in in_use}
    # A data migration stores the monitor's row; ensured here too (this is a write path), for a database
    # flushed since (transactional tests) or defaults changed since.
    monitor = strategy_config_for(decision=monitor_decision())
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


def decision_execute(*, decision_id: int) -> Execution:
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
        # Locked until commit, in id order, before their state is read: a settlement applying results to
        # these bots (results_apply) waits for this fan-out, or this fan-out for it, and neither loses the
        # other's counts. Bots before ledger accounts: the lock order of apps/ledger/services.py.
        rows = rows.select_for_update(of=("self",), no_key=True).order_by("pk")
        rows = list(rows.values(*_FANOUT_FIELDS))
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
                if code := refusal_code(bought):
                    # The trader's own self-exclusion or daily limit: the bot stops with the reason.
                    stops.append((row, code, " ".join(bought.messages)))
                    continue
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
        risk_states_save(states=[(pk, state, last_skips.get(pk, "")) for pk, state in states.items()], now=now)
        _count_skips([(row["pk"], reason, detail) for row, reason, detail in skips], day, now)
        for code, detail in {(code, detail) for _, code, detail in stops}:
            same = [row["pk"] for row, c, d in stops if (c, d) == (code, detail)]
            bots_stop(bot_ids=same, reason=code, detail=detail)
        result = Execution(bought=len(trades), skipped=len(skips), stopped=len(stops))
    logger.info("decision %s on %s: %s", decision_id, market.symbol, result)
    return result


_TRADE_FIELDS = ("bot", "decision", "contract", "stake", "sizing", "created_at", "result_applied")


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


def decision_failed(*, decision_id: int) -> None:
    """A fan-out that raised counts one error against each of its bots (five in a row stop them)."""
    decision = Decision.objects.filter(pk=decision_id).values("market_id", "config_id").first()
    if decision is None:
        return
    with transaction.atomic():
        # Locked in id order first, as every writer of bots' risk state does: a bare UPDATE locks in no set order.
        bots = Bot.objects.filter(status=BotStatus.RUNNING, **decision).select_for_update(no_key=True).order_by("pk")
        ids = list(bots.values_list("pk", flat=True))
        Bot.objects.filter(pk__in=ids).update(consecutive_errors=F("consecutive_errors") + 1)
