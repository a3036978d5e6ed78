"""The spot decision cycle: per pair and closed candle, the regime once, each distinct configuration's decision once,
then every running bot on the pair acts on them (`engine.plan`).

Each bot acts once per candle (`decided_until`). Before a connection sends a
new order, its orders of unknown outcome are reconciled with the exchange; a
connection the exchange does not answer sends nothing until it does. Errors
in a row (rejected orders, a refused key) disable the bot at its limit; the
drawdown from its peak equity disables it too.

What the bots read is read for all of them at once (positions, equity, the
day's trades, plans), and the paper exchange's orders of one candle are
filled together (`paper_orders_execute`); orders to a real exchange go one by
one, each waiting for its answer.
"""

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.billing.entitlements import limit_refusal, plans_in_force
from apps.billing.models import Plan
from apps.bots.engine.config import DecisionConfig
from apps.bots.engine.consensus import Decision
from apps.bots.engine.regime import REGIME_WINDOW, Regime, classify
from apps.bots.selectors import engaged_switches
from apps.common.bulk import update_objects
from apps.common.events import send_after_commit

from .. import engine
from ..models import (
    OPEN_ORDER_STATUSES,
    ConnectionStatus,
    OrderStatus,
    PositionStatus,
    Purpose,
    Side,
    SpotBot,
    SpotBotStatus,
    SpotMarket,
    SpotOrder,
    SpotPosition,
)
from ..selectors import equities
from ..signals import spot_changed
from ..venues import KeyRefused, Refused, Unreachable, quantize_down
from .connections import asset_account, balances_sync, connection_status_set
from .feed import candles_poll, closes, feeds_in_use, stale_reason
from .orders import (
    OrderIntent,
    client_order_id,
    connection_reconcile,
    order_send,
    paper_orders_execute,
    positions_reconcile,
)

log = logging.getLogger(__name__)
FILLED = (OrderStatus.FILLED, OrderStatus.PARTIAL)
# What a candle changes on each bot that acted on it.
BOT_STATE = ("decided_until", "last_skip", "errors_in_row", "peak_equity", "status", "status_reason", "updated_at")


def decision_config(bot: SpotBot) -> DecisionConfig:
    return DecisionConfig.from_stored(bot.strategies, bot.min_agreeing, bot.min_confidence)


def candles_poll_all() -> dict[str, int]:
    """The worker's minute: poll every feed in use once, then run the decision cycle on those with a new candle."""
    keys = feeds_in_use()
    markets = SpotMarket.objects.in_bulk({market_id for market_id, _ in keys})
    decided = 0
    for market_id, timeframe in keys:
        if candles_poll(market=markets[market_id], timeframe=timeframe):
            decided += bots_decide(market_id=market_id, timeframe=timeframe)
    return {"feeds": len(keys), "bots": decided}


def bots_decide(*, market_id: int, timeframe: str) -> int:
    """Every running bot on this pair and timeframe acts on the latest closed candle; how many acted."""
    bots = list(
        SpotBot.objects.filter(market_id=market_id, timeframe=timeframe, status=SpotBotStatus.RUNNING).select_related(
            "market", "connection", "user"
        )
    )
    if not bots:
        return 0
    market = bots[0].market
    configs: dict[str, DecisionConfig] = {}
    keys = {}
    for bot in bots:
        config = decision_config(bot)
        keys[bot.pk] = configs.setdefault(config.key, config).key
    window = max([REGIME_WINDOW, *(c.window for c in configs.values())])
    rows = closes(market_id=market_id, timeframe=timeframe, count=window)
    if not rows:
        return 0
    candle_at, price = rows[-1]
    prices = [float(close) for _, close in rows]
    regime = classify(prices)
    decisions = {key: config.evaluate(prices) for key, config in configs.items()}
    due = [bot for bot in bots if bot.decided_until is None or bot.decided_until < candle_at]
    acted = bots_act(
        bots=due,
        decisions={bot.pk: decisions[keys[bot.pk]] for bot in due},
        regime=regime,
        price=price,
        candle_at=candle_at,
        stale=stale_reason(market=market, timeframe=timeframe),
    )
    send_after_commit(spot_changed, sender=SpotBot, user_ids={bot.user_id for bot in due})
    return acted


def bot_act(*, bot: SpotBot, decision: Decision, regime: Regime, price: Decimal, candle_at, stale: str = "") -> int:
    """One bot on one closed candle (the cycle does the same for all of a pair's bots at once)."""
    return bots_act(bots=[bot], decisions={bot.pk: decision}, regime=regime, price=price, candle_at=candle_at,
                    stale=stale)  # fmt: skip


@dataclass
class Reads:
    """What the bots of one candle need to know, read for all of them at once."""

    held: dict[int, list[SpotPosition]]
    equity: dict[int, Decimal]
    trades_today: Counter
    user_trades_today: Counter
    user_open: Counter
    plans: dict[int, Plan]
    engaged: set
    skips: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, bots: list[SpotBot]) -> "Reads":
        start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        users = {bot.user_id for bot in bots}
        held = defaultdict(list)
        for position in SpotPosition.objects.filter(bot__in=bots, status=PositionStatus.OPEN):
            held[position.bot_id].append(position)
        today = SpotOrder.objects.filter(status__in=FILLED, created_at__gte=start, connection__user_id__in=users)
        open_positions = SpotPosition.objects.filter(connection__user_id__in=users, status=PositionStatus.OPEN)
        return cls(
            held=held,
            equity=equities(connections={bot.connection for bot in bots}),
            trades_today=Counter(
                dict(today.filter(bot__in=bots).values_list("bot").annotate(n=Count("id")).order_by())
            ),
            user_trades_today=Counter(
                dict(today.values_list("connection__user_id").annotate(n=Count("id")).order_by())
            ),
            user_open=Counter(
                dict(open_positions.values_list("connection__user_id").annotate(n=Count("id")).order_by())
            ),
            plans=plans_in_force(users),
            engaged=engaged_switches(),
        )

    def stopped_by(self, bot: SpotBot) -> str:
        if None in self.engaged:
            return "The platform's kill switch is on: no new positions."
        if bot.user_id in self.engaged:
            return "Your kill switch is on: no new positions."
        return ""

    def plan_refusal(self, bot: SpotBot) -> str:
        """The trader's plan's limits on exchange trades a day and open positions ("" when within them)."""
        user, plan = bot.user, self.plans[bot.user_id]
        trades = self.user_trades_today[bot.user_id] + 1
        if refusal := limit_refusal(user, "max_trades_per_day", wanted=trades, plan=plan):
            return refusal.message
        if refusal := limit_refusal(user, "max_open_positions", wanted=self.user_open[bot.user_id] + 1, plan=plan):
            return refusal.message
        return ""


# When this process last read each real connection back from its exchange (monotonic seconds).
_resynced: dict[int, float] = {}


def _due_for_resync(connection) -> bool:
    """Once after each start of the worker, then every EXCHANGE_RESYNC_S (deposits and withdrawals made there)."""
    last = _resynced.get(connection.pk)
    return last is None or time.monotonic() - last >= settings.EXCHANGE_RESYNC_S


def _reconciled(bots: list[SpotBot]) -> dict[int, bool]:
    """Per connection: may it send new orders? Every earlier order's outcome must be known; and a real
    connection's balances and positions are read back from its exchange after each start of the worker (a restart
    may have missed fills, deposits, or sales made at the exchange) before its first order, then now and then."""
    connections = {bot.connection_id: bot.connection for bot in bots}
    unsettled = set(
        SpotOrder.objects.filter(connection_id__in=connections, status__in=OPEN_ORDER_STATUSES)
        .values_list("connection_id", flat=True)
        .distinct()
    )
    ready = {}
    for pk, connection in connections.items():
        ready[pk] = pk not in unsettled or connection_reconcile(connection=connection)
        if ready[pk] and not connection.paper and _due_for_resync(connection):
            ready[pk] = connection_resync(connection=connection)
            if ready[pk]:
                _resynced[pk] = time.monotonic()
    return ready


def _waiting_reason(connection) -> str:
    name = connection.get_exchange_display()
    if connection.status == ConnectionStatus.UNREACHABLE:
        return f"Paused: {name} did not answer; trading resumes when it does."
    if connection.status == ConnectionStatus.REFUSED:
        return f"Paused: {name} refused the key ({connection.status_reason}). Connect it again."
    return f"Paused: waiting for {name} to confirm earlier orders."


def connection_resync(*, connection) -> bool:
    """Read a real connection's balances into the ledger and fit its open positions to them; False if the
    exchange did not answer or refused the key (the connection's status says which)."""
    try:
        balances_sync(connection=connection)
    except Unreachable as exc:
        connection_status_set(connection=connection, status=ConnectionStatus.UNREACHABLE, reason=exc.reason)
        return False
    except (KeyRefused, Refused) as exc:
        connection_status_set(connection=connection, status=ConnectionStatus.REFUSED, reason=exc.reason)
        return False
    positions_reconcile(connection=connection)
    return True


def bots_act(*, bots: list[SpotBot], decisions: dict[int, Decision], regime: Regime, price: Decimal, candle_at,
             stale: str) -> int:  # fmt: skip
    """These bots act on one closed candle of their pair: exits, then at most one entry each. How many acted."""
    if not bots:
        return 0
    if stale:
        # Not decided: the bots act on the next candle they can trade.
        SpotBot.objects.filter(pk__in=[b.pk for b in bots]).update(last_skip=stale[:200])
        return 0
    ready = _reconciled(bots)
    waiting = [bot for bot in bots if not ready[bot.connection_id]]
    for bot in waiting:
        SpotBot.objects.filter(pk=bot.pk).update(last_skip=_waiting_reason(bot.connection)[:200])
    acting = [bot for bot in bots if ready[bot.connection_id]]
    if not acting:
        return 0
    reads = Reads.of(acting)
    intents: dict[int, list[OrderIntent]] = {}
    halts: dict[int, str] = {}
    for bot in acting:
        intents[bot.pk], reads.skips[bot.pk], halts[bot.pk] = _bot_plan(
            bot, decisions[bot.pk], regime, price, candle_at, reads
        )
    sent = _send([i for bot in acting for i in intents[bot.pk]])
    for bot in acting:
        _bot_after(bot, sent.get(bot.pk, []), reads.skips[bot.pk], halts[bot.pk], candle_at, reads.equity)
    now = timezone.now()
    for bot in acting:
        bot.updated_at = now
    update_objects(SpotBot, acting, BOT_STATE)
    return len(acting)


def _bot_plan(bot: SpotBot, decision: Decision, regime: Regime, price: Decimal, candle_at,
              reads: Reads) -> tuple[list[OrderIntent], str, str]:  # fmt: skip
    """The orders this bot sends on this candle, why it opens nothing (if so), and why it stops (if so)."""
    connection, market = bot.connection, bot.market
    risk = engine.SpotRisk.of(bot)
    held = reads.held.get(bot.pk, [])
    equity = reads.equity.get(connection.pk, Decimal("0"))
    bot.peak_equity = max(bot.peak_equity or equity, equity)
    step = engine.plan(
        risk=risk,
        price=price,
        decision=decision,
        regime=regime,
        held=[
            engine.Held(p.id, p.amount, p.last_entry_price or price, p.stop_price, p.take_price, p.adds) for p in held
        ],
        equity=equity,
        peak_equity=bot.peak_equity,
        trades_today=reads.trades_today[bot.pk],
        stopped_by=reads.stopped_by(bot),
        quote=market.quote,
    )
    skip, by_id, wanted = step.skip, {p.id: p for p in held}, []
    for action in step.actions:
        if action.purpose in (Purpose.OPEN, Purpose.ADD):
            if refusal := reads.plan_refusal(bot):
                skip = refusal
                continue
            amount = quantize_down(action.quote / price, market.amount_step)
            if amount <= 0 or amount < market.min_amount or amount * price < market.min_notional:
                skip = (
                    f"The position size {action.quote:.2f} {market.quote} is under {market.symbol}'s minimum order "
                    f"of {market.min_notional.normalize()} {market.quote}."
                )
                continue
            side, position = Side.BUY, by_id.get(action.position_id)
            reads.user_trades_today[bot.user_id] += 1
            reads.user_open[bot.user_id] += 1 if action.purpose == Purpose.OPEN else 0
        else:
            position, side = by_id[action.position_id], Side.SELL
            amount = quantize_down(position.amount, market.amount_step)
            if amount <= 0:
                continue
        wanted.append(
            OrderIntent(
                connection=connection,
                market=market,
                side=side,
                amount=amount,
                purpose=action.purpose,
                client_id=client_order_id(bot_id=bot.pk, candle_at=candle_at, purpose=action.purpose),
                bot=bot,
                position=position,
                explanation=engine.explain(
                    decision=decision, regime=regime, price=price, candle_at=candle_at, risk=risk, why=action.why
                ),
            )
        )
    return wanted, skip, step.halt


def _send(intents: list[OrderIntent]) -> dict[int, list[tuple[SpotOrder, bool]]]:
    """Send the orders: the paper exchange's together, a real exchange's one by one. (order, reached) by bot id."""
    by_bot: dict[int, list[tuple[SpotOrder, bool]]] = defaultdict(list)
    for order in paper_orders_execute([i for i in intents if i.connection.paper]):
        by_bot[order.bot_id].append((order, True))
    unreachable: set[int] = set()
    for intent in intents:
        if intent.connection.paper:
            continue
        if intent.connection.pk in unreachable:  # no answer a moment ago: the rest wait for reconciliation
            continue
        result = order_send(**vars(intent))
        if not result.reached:
            unreachable.add(intent.connection.pk)
        by_bot[intent.bot.pk].append((result.order, result.reached))
    return by_bot


def _bot_after(bot: SpotBot, sent: list[tuple[SpotOrder, bool]], skip: str, halt: str, candle_at,
               equity: dict[int, Decimal]) -> None:  # fmt: skip
    """The bot's state after its orders' answers (saved in bulk by the caller)."""
    errors = bot.errors_in_row
    for order, reached in sent:
        if not reached:
            skip = (
                f"{bot.connection.get_exchange_display()} did not answer; the order is checked again before any other."
            )
        elif order.status == OrderStatus.REJECTED:
            errors += 1
            skip = f"Order rejected: {order.reason}"
        elif order.status in FILLED:
            errors = 0
    bot.decided_until, bot.last_skip, bot.errors_in_row = candle_at, skip[:200], errors
    if halt:
        bot.status, bot.status_reason = SpotBotStatus.DISABLED, f"Stopped: {halt}"[:200]
    elif errors >= bot.max_errors_in_row:
        bot.status = SpotBotStatus.DISABLED
        bot.status_reason = f"Stopped after {errors} errors in a row; the last: {skip}"[:200]


def positions_close(*, user, connection_id: int, position_ids: list[int] | None = None) -> list[SpotOrder]:
    """Close the trader's open positions on a connection at market (all, or those named); the orders sent."""
    positions = SpotPosition.objects.filter(
        connection_id=connection_id, connection__user=user, status=PositionStatus.OPEN
    ).select_related("market", "connection", "bot")
    if position_ids is not None:
        positions = positions.filter(pk__in=position_ids)
    positions, sent = list(positions), []
    if positions and not connection_reconcile(connection=positions[0].connection):
        positions = []  # an earlier order's outcome is unknown: nothing more is sent until it is
    for position in positions:
        market, connection = position.market, position.connection
        held = min(position.amount, asset_account(connection, market.base).balance)
        amount = quantize_down(held, market.amount_step)
        if amount <= 0:
            continue
        closing = SpotOrder.objects.filter(position=position, purpose=Purpose.CLOSE).count()
        result = order_send(
            connection=connection,
            market=market,
            side=Side.SELL,
            amount=amount,
            purpose=Purpose.CLOSE,
            client_id=f"nxc{position.pk}-{closing + 1}",
            bot=position.bot,
            position=position,
            explanation={"why": "Closed at market by the trader."},
        )
        sent.append(result.order)
    send_after_commit(spot_changed, sender=SpotPosition, user_ids=[user.pk])
    return sent
