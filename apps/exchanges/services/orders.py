"""Market orders: sent once, booked once, reconciled by client order id.

An order is written (NEW) before it is sent, under a client order id derived
from (bot, candle, purpose) and unique per connection: a retried task or a
restarted worker finds the row and never sends it a second time. An order
whose answer was lost (UNKNOWN), or that a crash left NEW, is looked up at the
exchange by that id (`connection_reconcile`) before the connection sends
anything else.

A fill is booked in the ledger as the exchange settled it: the quote paid (or
received) against the exchange world account, the base received (or paid),
and the fee in the asset it was charged in, to the exchange fees account.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.ledger.models import AccountKind, TransferKind
from apps.ledger.services import LedgerError, system_account, transfer

from ..models import (
    OPEN_ORDER_STATUSES,
    ConnectionStatus,
    ExchangeConnection,
    OrderStatus,
    PositionStatus,
    Purpose,
    Side,
    SpotMarket,
    SpotOrder,
    SpotPosition,
)
from ..venues import KeyRefused, OrderResult, Refused, Unreachable, Venue, quantize_down
from .connections import asset_account, connection_status_set, world_account

log = logging.getLogger(__name__)

PLACES = Decimal("0.00000001")
# A NEW order younger than this may still be on its way from another worker: reconciliation leaves it.
IN_FLIGHT = timedelta(seconds=30)


def client_order_id(*, bot_id: int, candle_at, purpose: str) -> str:
    """Derived from the decision (bot, candle) and what the order is for: a retry derives the same id."""
    return f"nx{bot_id}-{int(candle_at.timestamp())}-{purpose.lower()[:6]}"


@dataclass(frozen=True)
class Sent:
    order: SpotOrder
    # False when the exchange could not be reached: the bot pauses, the order is reconciled later.
    reached: bool


def order_send(
    *,
    connection: ExchangeConnection,
    market: SpotMarket,
    side: str,
    amount: Decimal,
    purpose: str,
    client_id: str,
    bot=None,
    position: SpotPosition | None = None,
    explanation: dict | None = None,
) -> Sent:
    """Write the order, send it at market, book what filled. Never sends one client order id twice."""
    try:
        with transaction.atomic():
            order = SpotOrder.objects.create(
                client_order_id=client_id,
                connection=connection,
                bot=bot,
                position=position,
                market=market,
                side=side,
                purpose=purpose,
                amount=amount,
                explanation=explanation or {},
            )
    except IntegrityError:
        return Sent(SpotOrder.objects.get(connection=connection, client_order_id=client_id), reached=True)
    try:
        if connection.paper:
            result = paper_fill(connection=connection, market=market, side=side, amount=amount)
        else:
            venue = Venue(connection.exchange, connection.credentials)
            result = venue.market_order(market.symbol, side, amount, client_order_id=client_id)
    except Unreachable as exc:
        SpotOrder.objects.filter(pk=order.pk).update(status=OrderStatus.UNKNOWN, reason=exc.reason)
        connection_status_set(connection=connection, status=ConnectionStatus.UNREACHABLE, reason=exc.reason)
        order.refresh_from_db()
        return Sent(order, reached=False)
    except (Refused, KeyRefused) as exc:
        SpotOrder.objects.filter(pk=order.pk).update(status=OrderStatus.REJECTED, reason=exc.reason)
        if isinstance(exc, KeyRefused):
            connection_status_set(connection=connection, status=ConnectionStatus.REFUSED, reason=exc.reason)
        order.refresh_from_db()
        return Sent(order, reached=True)
    connection_status_set(connection=connection, status=ConnectionStatus.ACTIVE)
    return Sent(order_apply(order_id=order.pk, result=result), reached=True)


def paper_fill(*, connection: ExchangeConnection, market: SpotMarket, side: str, amount: Decimal) -> OrderResult:
    """A fill on the paper exchange: the last price moved against the trader by the slippage, the taker fee
    charged in the asset received (as Binance charges it), refused as the exchange would refuse it."""
    if market.last_price is None:
        raise Refused(f"No price for {market.symbol} yet.")
    slip = market.last_price * Decimal(settings.EXCHANGE_PAPER_SLIPPAGE_PCT) / 100
    price = market.last_price + slip if side == Side.BUY else market.last_price - slip
    amount = quantize_down(amount, market.amount_step)
    cost = (amount * price).quantize(PLACES, rounding=ROUND_DOWN)
    if amount <= 0 or amount < market.min_amount:
        raise Refused(f"Filter failure: LOT_SIZE ({amount} {market.base} is under the minimum amount).")
    if cost < market.min_notional:
        raise Refused(f"Filter failure: NOTIONAL ({cost} {market.quote} is under {market.min_notional.normalize()}).")
    paying, needed = (market.quote, cost) if side == Side.BUY else (market.base, amount)
    if asset_account(connection, paying).balance < needed:
        raise Refused("Account has insufficient balance for requested action.")
    received, currency = (amount, market.base) if side == Side.BUY else (cost, market.quote)
    fee = (received * market.taker_fee).quantize(PLACES, rounding=ROUND_DOWN)
    return OrderResult(f"paper-{uuid.uuid4().hex[:16]}", "closed", amount, cost, fee, currency)


def _status_of(order: SpotOrder, result: OrderResult) -> str:
    if result.status == "rejected":
        return OrderStatus.REJECTED
    if result.filled <= 0:
        return OrderStatus.CANCELLED if result.status in ("canceled", "expired") else OrderStatus.UNKNOWN
    return OrderStatus.FILLED if result.filled >= order.amount else OrderStatus.PARTIAL


def order_apply(*, order_id: int, result: OrderResult) -> SpotOrder:
    """Record the exchange's answer for an order and book its fill, once: a second call changes nothing."""
    with transaction.atomic():
        order = SpotOrder.objects.select_for_update().select_related("market", "connection").get(pk=order_id)
        if order.status not in OPEN_ORDER_STATUSES:
            return order
        status = _status_of(order, result)
        if status == OrderStatus.UNKNOWN:  # still working at the exchange: asked again later
            return order
        order.status, order.exchange_order_id = status, result.exchange_order_id
        if result.filled > 0:
            order.filled = result.filled.quantize(PLACES, rounding=ROUND_DOWN)
            order.cost = result.cost.quantize(PLACES, rounding=ROUND_DOWN)
            order.fee, order.fee_currency = result.fee.quantize(PLACES, rounding=ROUND_DOWN), result.fee_currency
            try:
                with transaction.atomic():
                    _book(order)
            except LedgerError as exc:
                # The books cannot pay what the exchange says it took: a paper fill raced another order.
                order.status, order.reason = OrderStatus.REJECTED, f"Insufficient balance: {exc}"[:300]
                order.filled = order.cost = order.fee = Decimal("0")
                order.save()
                return order
            _position_apply(order)
        elif status == OrderStatus.CANCELLED:
            order.reason = order.reason or "Nothing filled: the exchange cancelled it."
        order.save()
    return order


def _book(order: SpotOrder) -> None:
    connection, market = order.connection, order.market
    paid, got = (market.quote, market.base) if order.side == Side.BUY else (market.base, market.quote)
    paid_amount, got_amount = (order.cost, order.filled) if order.side == Side.BUY else (order.filled, order.cost)
    key = f"exchange:order:{order.pk}"
    ref = f"order:{order.pk}"
    # Lock order: lower ids first is kept by `transfer` itself for each pair of accounts.
    if paid_amount > 0:
        transfer(
            debit=asset_account(connection, paid),
            credit=world_account(connection, paid),
            amount=paid_amount,
            kind=TransferKind.FILL,
            idempotency_key=f"{key}:paid",
            reference=ref,
        )
    if got_amount > 0:
        transfer(
            debit=world_account(connection, got),
            credit=asset_account(connection, got),
            amount=got_amount,
            kind=TransferKind.FILL,
            idempotency_key=f"{key}:got",
            reference=ref,
        )
    if order.fee > 0 and order.fee_currency:
        transfer(
            debit=asset_account(connection, order.fee_currency),
            credit=system_account(kind=AccountKind.FEES, realm=connection.realm, currency=order.fee_currency),
            amount=order.fee,
            kind=TransferKind.FEE,
            idempotency_key=f"{key}:fee",
            reference=ref,
        )


def _fee_in_quote(order: SpotOrder) -> Decimal:
    if order.fee_currency == order.market.base and order.filled:
        return (order.fee * order.cost / order.filled).quantize(PLACES)
    return order.fee


def _position_apply(order: SpotOrder) -> None:
    """A buy opens or adds to its position; a sell reduces it and closes it once what is left cannot be sold."""
    market = order.market
    fee_base = order.fee if order.fee_currency == market.base else Decimal("0")
    fee_quote = order.fee if order.fee_currency == market.quote else Decimal("0")
    price = order.cost / order.filled
    if order.side == Side.BUY:
        position = order.position
        if position is None:
            position = SpotPosition.objects.create(
                bot=order.bot, connection=order.connection, market=market, explanation=order.explanation
            )
            order.position = position
        else:
            position = SpotPosition.objects.select_for_update().get(pk=position.pk)
            position.adds += 1 if order.purpose == Purpose.ADD else 0
        position.amount += order.filled - fee_base
        position.cost += order.cost
        position.fees += _fee_in_quote(order)
        position.last_entry_price = price.quantize(Decimal("0.0000000001"))
        risk = order.explanation.get("risk", {})
        if risk.get("stop_loss_pct") is not None:
            entry = position.cost / position.amount
            position.stop_price = (entry * (1 - Decimal(risk["stop_loss_pct"]) / 100)).quantize(market.price_step)
            position.take_price = (entry * (1 + Decimal(risk["take_profit_pct"]) / 100)).quantize(market.price_step)
        position.save()
        return
    position = SpotPosition.objects.select_for_update().get(pk=order.position_id)
    position.amount -= order.filled
    position.proceeds += order.cost - fee_quote
    position.fees += _fee_in_quote(order)
    left = quantize_down(position.amount, market.amount_step)
    if left <= 0 or left < market.min_amount or left * price < market.min_notional:
        position.status, position.closed_at = PositionStatus.CLOSED, timezone.now()
        position.exit_price = price.quantize(Decimal("0.0000000001"))
        position.close_reason = order.explanation.get("why") or order.get_purpose_display()
    position.save()


def connection_reconcile(*, connection: ExchangeConnection) -> bool:
    """Settle every order of this connection whose outcome is not known, from the exchange, by client order id.

    True when none is left unknown (the connection may send new orders); False when the exchange could not be
    asked (it stays paused).
    """
    pending = list(
        SpotOrder.objects.filter(connection=connection, status__in=OPEN_ORDER_STATUSES).select_related("market")
    )
    if not pending:
        return True
    if connection.paper:  # the paper exchange answers every order at once: an open one never reached it
        for order in pending:
            _never_placed(order)
        return True
    venue = Venue(connection.exchange, connection.credentials)
    settled = True
    for order in pending:
        if order.status == OrderStatus.NEW and timezone.now() - order.created_at < IN_FLIGHT:
            settled = False
            continue
        try:
            found = venue.order_by_client_id(order.market.symbol, order.client_order_id)
        except Unreachable as exc:
            connection_status_set(connection=connection, status=ConnectionStatus.UNREACHABLE, reason=exc.reason)
            return False
        except KeyRefused as exc:
            connection_status_set(connection=connection, status=ConnectionStatus.REFUSED, reason=exc.reason)
            return False
        if found is None:
            _never_placed(order)
        elif order_apply(order_id=order.pk, result=found).status in OPEN_ORDER_STATUSES:
            settled = False
    if settled:
        connection_status_set(connection=connection, status=ConnectionStatus.ACTIVE)
    return settled


def _never_placed(order: SpotOrder) -> None:
    SpotOrder.objects.filter(pk=order.pk, status__in=OPEN_ORDER_STATUSES).update(
        status=OrderStatus.CANCELLED, reason="The exchange has no order with this client order id: it was never placed."
    )
    log.warning("order %s was never placed", order.client_order_id)
