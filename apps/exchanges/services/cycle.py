"""The spot decision cycle: per pair and closed candle, the regime once, each distinct configuration's decision once,
then every running bot on the pair acts on them (`engine.plan`).

Each bot acts once per candle (`decided_until`). Before a connection sends a
new order, its orders of unknown outcome are reconciled with the exchange; a
connection the exchange does not answer sends nothing until it does. Errors
in a row (rejected orders, a refused key) disable the bot at its limit; the
drawdown from its peak equity disables it too.
"""

import logging
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.billing.entitlements import limit_refusal
from apps.bots.engine.config import DecisionConfig
from apps.bots.engine.regime import REGIME_WINDOW, classify
from apps.bots.selectors import engaged_switches

from .. import engine
from ..models import (
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
from ..selectors import equity_of
from ..venues import quantize_down
from .connections import asset_account
from .feed import candles_poll, closes, feeds_in_use, stale_reason
from .orders import client_order_id, connection_reconcile, order_send

log = logging.getLogger(__name__)


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
    configs = {}
    for bot in bots:
        config = decision_config(bot)
        configs.setdefault(config.key, config)
    window = max([REGIME_WINDOW, *(c.window for c in configs.values())])
    rows = closes(market_id=market_id, timeframe=timeframe, count=window)
    if not rows:
        return 0
    candle_at, price = rows[-1]
    prices = [float(close) for _, close in rows]
    regime = classify(prices)
    decisions = {key: config.evaluate(prices) for key, config in configs.items()}
    stale = stale_reason(market=market, timeframe=timeframe)
    engaged = engaged_switches()
    acted = 0
    for bot in bots:
        if bot.decided_until is not None and bot.decided_until >= candle_at:
            continue
        try:
            bot_act(
                bot=bot,
                decision=decisions[decision_config(bot).key],
                regime=regime,
                price=price,
                candle_at=candle_at,
                stale=stale,
                engaged=engaged,
            )
        except Exception:  # one bot's failure never stops the others on the pair
            log.exception("spot bot %s failed on %s", bot.pk, candle_at)
            continue
        acted += 1
    return acted


def _stopped_by(bot: SpotBot, engaged: set) -> str:
    if None in engaged:
        return "The platform's kill switch is on: no new positions."
    if bot.user_id in engaged:
        return "Your kill switch is on: no new positions."
    return ""


def _trades_today(bot: SpotBot) -> int:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    filled = Q(status__in=(OrderStatus.FILLED, OrderStatus.PARTIAL))
    return SpotOrder.objects.filter(filled, bot=bot, created_at__gte=start).count()


def _user_trades_today(user_id: int) -> int:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    filled = Q(status__in=(OrderStatus.FILLED, OrderStatus.PARTIAL))
    return SpotOrder.objects.filter(filled, connection__user_id=user_id, created_at__gte=start).count()


def _plan_refusal(bot: SpotBot) -> str:
    """The trader's plan's limits on exchange trades a day and open positions ("" when within them)."""
    if refusal := limit_refusal(bot.user, "max_trades_per_day", wanted=_user_trades_today(bot.user_id) + 1):
        return refusal.message
    open_positions = SpotPosition.objects.filter(connection__user_id=bot.user_id, status=PositionStatus.OPEN).count()
    if refusal := limit_refusal(bot.user, "max_open_positions", wanted=open_positions + 1):
        return refusal.message
    return ""


def bot_act(*, bot: SpotBot, decision, regime, price: Decimal, candle_at, stale: str, engaged: set) -> None:
    """One bot on one closed candle: exits, then at most one entry, each an order sent at market."""
    connection = bot.connection
    skip = ""
    if stale:
        skip = stale
    elif not connection_reconcile(connection=connection):
        skip = f"Waiting for {connection.get_exchange_display()}: {connection.status_reason or 'orders to reconcile'}."
    if skip:
        # Not decided: the bot acts on the next candle it can trade.
        SpotBot.objects.filter(pk=bot.pk).update(last_skip=skip[:200])
        return
    risk = engine.SpotRisk.of(bot)
    market = bot.market
    held_rows = list(SpotPosition.objects.filter(bot=bot, status=PositionStatus.OPEN))
    held = [
        engine.Held(p.id, p.amount, p.last_entry_price or price, p.stop_price, p.take_price, p.adds) for p in held_rows
    ]
    equity = equity_of(connection=connection)
    peak = max(bot.peak_equity or equity, equity)
    stopped_by = _stopped_by(bot, engaged)
    step = engine.plan(
        risk=risk,
        price=price,
        decision=decision,
        regime=regime,
        held=held,
        equity=equity,
        peak_equity=peak,
        trades_today=_trades_today(bot),
        stopped_by=stopped_by,
        quote=market.quote,
    )
    errors, skip = bot.errors_in_row, step.skip
    by_id = {p.id: p for p in held_rows}
    for action in step.actions:
        if action.purpose in (Purpose.OPEN, Purpose.ADD):
            if refusal := _plan_refusal(bot):
                skip = refusal
                continue
            amount = quantize_down(action.quote / price, market.amount_step)
            if amount * price < market.min_notional or amount < market.min_amount or amount <= 0:
                skip = (
                    f"The position size {action.quote:.2f} {market.quote} is under {market.symbol}'s minimum order "
                    f"of {market.min_notional.normalize()} {market.quote}."
                )
                continue
            side, position = Side.BUY, by_id.get(action.position_id)
        else:
            position = by_id[action.position_id]
            amount = quantize_down(
                min(position.amount, asset_account(connection, market.base).balance), market.amount_step
            )
            if amount <= 0:
                continue
            side = Side.SELL
        sent = order_send(
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
        if not sent.reached:
            skip = f"{connection.get_exchange_display()} did not answer; the order is checked again before any other."
            break
        if sent.order.status == OrderStatus.REJECTED:
            errors += 1
            skip = f"Order rejected: {sent.order.reason}"
        elif sent.order.status in (OrderStatus.FILLED, OrderStatus.PARTIAL):
            errors = 0
    with transaction.atomic():
        fields = {"decided_until": candle_at, "last_skip": skip[:200], "errors_in_row": errors, "peak_equity": peak}
        if step.halt:
            fields |= {"status": SpotBotStatus.DISABLED, "status_reason": f"Stopped: {step.halt}"[:200]}
        elif errors >= bot.max_errors_in_row:
            fields |= {
                "status": SpotBotStatus.DISABLED,
                "status_reason": f"Stopped after {errors} errors in a row; the last: {skip}"[:200],
            }
        SpotBot.objects.filter(pk=bot.pk).update(**fields)
    if connection.status != ConnectionStatus.ACTIVE:
        log.info("connection %s is %s", connection.pk, connection.status)


def positions_close(*, user, connection_id: int, position_ids: list[int] | None = None) -> list[SpotOrder]:
    """Close the trader's open positions on a connection at market (all, or those named); the orders sent."""
    positions = SpotPosition.objects.filter(
        connection_id=connection_id, connection__user=user, status=PositionStatus.OPEN
    ).select_related("market", "connection", "bot")
    if position_ids is not None:
        positions = positions.filter(pk__in=position_ids)
    sent = []
    for position in positions:
        market, connection = position.market, position.connection
        if not connection_reconcile(connection=connection):
            break
        held = min(position.amount, asset_account(connection, market.base).balance)
        amount = quantize_down(held, market.amount_step).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
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
    return sent
