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

from apps.common.bulk import update_objects
from apps.ledger.models import AccountKind, LedgerAccount, TransferKind
from apps.ledger.services import (
    LedgerError,
    TransferSpec,
    ledger_accounts_lock,
    ledger_accounts_open,
    system_account,
    transfer_many,
)

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
from .connections import asset_account, connection_status_set

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


@dataclass(frozen=True)
class OrderIntent:
    """An order a bot (or the trader) wants sent at market."""

    connection: ExchangeConnection
    market: SpotMarket
    side: str
    amount: Decimal
    purpose: str
    client_id: str
    bot: object = None
    position: SpotPosition | None = None
    explanation: dict | None = None

    def row(self) -> SpotOrder:
        return SpotOrder(
            client_order_id=self.client_id,
            connection=self.connection,
            bot=self.bot,
            position=self.position,
            market=self.market,
            side=self.side,
            purpose=self.purpose,
            amount=self.amount,
            explanation=self.explanation or {},
        )


def order_send(**fields) -> Sent:
    """Write the order, send it at market, book what filled. Never sends one client order id twice."""
    intent = OrderIntent(**fields)
    connection = intent.connection
    try:
        with transaction.atomic():
            order = intent.row()
            order.save()
    except IntegrityError:
        return Sent(SpotOrder.objects.get(connection=connection, client_order_id=intent.client_id), reached=True)
    try:
        if connection.paper:
            result = paper_fill(connection=connection, market=intent.market, side=intent.side, amount=intent.amount)
        else:
            venue = Venue(connection.exchange, connection.credentials)
            result = venue.market_order(
                intent.market.symbol, intent.side, intent.amount, client_order_id=intent.client_id
            )
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


def paper_quote(*, market: SpotMarket, side: str, amount: Decimal) -> OrderResult:
    """What the paper exchange fills: the last price moved against the trader by the slippage, the taker fee
    charged in the asset received (as Binance charges it); refused as the exchange would refuse it.
    The balance is the caller's to check."""
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
    received, currency = (amount, market.base) if side == Side.BUY else (cost, market.quote)
    fee = (received * market.taker_fee).quantize(PLACES, rounding=ROUND_DOWN)
    return OrderResult(f"paper-{uuid.uuid4().hex[:16]}", "closed", amount, cost, fee, currency)


def _paying(market: SpotMarket, side: str, result: OrderResult) -> tuple[str, Decimal]:
    return (market.quote, result.cost) if side == Side.BUY else (market.base, result.filled)


def paper_fill(*, connection: ExchangeConnection, market: SpotMarket, side: str, amount: Decimal) -> OrderResult:
    result = paper_quote(market=market, side=side, amount=amount)
    asset, needed = _paying(market, side, result)
    if asset_account(connection, asset).balance < needed:
        raise Refused(INSUFFICIENT)
    return result


INSUFFICIENT = "Account has insufficient balance for requested action."
# What a fill changes on an order and on its position.
ORDER_STATE = (
    "status",
    "reason",
    "exchange_order_id",
    "filled",
    "cost",
    "fee",
    "fee_currency",
    "position",
    "updated_at",
)
POSITION_STATE = (
    "amount", "cost", "fees", "adds", "entry_price", "last_entry_price", "stop_price", "take_price", "proceeds",
    "exit_price", "close_reason", "status", "closed_at",
)  # fmt: skip


def _status_of(order: SpotOrder, result: OrderResult) -> str:
    if result.status == "rejected":
        return OrderStatus.REJECTED
    if result.filled <= 0:
        return OrderStatus.CANCELLED if result.status in ("canceled", "expired") else OrderStatus.UNKNOWN
    return OrderStatus.FILLED if result.filled >= order.amount else OrderStatus.PARTIAL


def _record(order: SpotOrder, result: OrderResult) -> None:
    """The exchange's answer on the order row (not saved)."""
    order.status, order.exchange_order_id = _status_of(order, result), result.exchange_order_id
    if result.filled > 0:
        order.filled = result.filled.quantize(PLACES, rounding=ROUND_DOWN)
        order.cost = result.cost.quantize(PLACES, rounding=ROUND_DOWN)
        order.fee, order.fee_currency = result.fee.quantize(PLACES, rounding=ROUND_DOWN), result.fee_currency
    elif order.status == OrderStatus.CANCELLED:
        order.reason = order.reason or "Nothing filled: the exchange cancelled it."


def order_apply(*, order_id: int, result: OrderResult) -> SpotOrder:
    """Record the exchange's answer for an order and book its fill, once: a second call changes nothing."""
    with transaction.atomic():
        order = SpotOrder.objects.select_for_update().select_related("market", "connection").get(pk=order_id)
        if order.status not in OPEN_ORDER_STATUSES or _status_of(order, result) == OrderStatus.UNKNOWN:
            return order  # settled already, or still working at the exchange: asked again later
        _record(order, result)
        if order.filled > 0:
            books = Books([order])
            try:
                with transaction.atomic():
                    transfer_many(fill_specs(order, books), return_transfers=False)
            except LedgerError as exc:
                # The books cannot pay what the exchange says it took: a paper fill raced another order.
                order.status, order.reason = OrderStatus.REJECTED, f"Insufficient balance: {exc}"[:300]
                order.filled = order.cost = order.fee = Decimal("0")
                order.save()
                return order
            if order.position_id:
                order.position = SpotPosition.objects.select_for_update().get(pk=order.position_id)
            position = position_update(order)
            position.save()
            order.position = position
        order.save()
    return order


class Books:
    """The ledger accounts a set of orders moves money between, opened where missing, looked up in bulk."""

    def __init__(self, orders: list[SpotOrder]):
        wanted = {}
        for order in orders:
            connection, market = order.connection, order.market
            for asset in (market.base, market.quote):
                wanted[f"exchange:{connection.pk}:{asset}"] = (connection, asset)
        self.ids = dict(LedgerAccount.objects.filter(code__in=wanted).values_list("code", "id"))
        missing = [
            {"code": code, "name": f"{c.label} {asset}", "realm": c.realm, "currency": asset, "owner_id": c.user_id}
            for code, (c, asset) in wanted.items()
            if code not in self.ids
        ]
        if missing:
            self.ids |= ledger_accounts_open(accounts=missing)
        self.system: dict[tuple[str, str, str], int] = {}

    def user(self, connection: ExchangeConnection, asset: str) -> int:
        return self.ids[f"exchange:{connection.pk}:{asset}"]

    def world(self, connection: ExchangeConnection, asset: str, kind: str = AccountKind.EXCHANGE) -> int:
        key = (kind, connection.realm, asset)
        if key not in self.system:
            self.system[key] = system_account(kind=kind, realm=connection.realm, currency=asset).pk
        return self.system[key]


def fill_specs(order: SpotOrder, books: Books) -> list[TransferSpec]:
    """The transfers that book an order's fill: what was paid to the exchange world, what came back, the fee."""
    connection, market = order.connection, order.market
    paid, got = (market.quote, market.base) if order.side == Side.BUY else (market.base, market.quote)
    paid_amount, got_amount = (order.cost, order.filled) if order.side == Side.BUY else (order.filled, order.cost)
    key, ref = f"exchange:order:{order.pk}", f"order:{order.pk}"
    specs = []
    if paid_amount > 0:
        specs.append(
            TransferSpec(books.user(connection, paid), books.world(connection, paid), paid_amount, TransferKind.FILL,
                         f"{key}:paid", ref)
        )  # fmt: skip
    if got_amount > 0:
        specs.append(
            TransferSpec(books.world(connection, got), books.user(connection, got), got_amount, TransferKind.FILL,
                         f"{key}:got", ref)
        )  # fmt: skip
    if order.fee > 0 and order.fee_currency:
        fees = books.world(connection, order.fee_currency, AccountKind.FEES)
        specs.append(
            TransferSpec(
                books.user(connection, order.fee_currency), fees, order.fee, TransferKind.FEE, f"{key}:fee", ref
            )
        )
    return specs


def _fee_in_quote(order: SpotOrder) -> Decimal:
    if order.fee_currency == order.market.base and order.filled:
        return (order.fee * order.cost / order.filled).quantize(PLACES)
    return order.fee


def position_update(order: SpotOrder) -> SpotPosition:
    """The order's position after its fill (not saved): a buy opens or adds to it; a sell reduces it and closes
    it once what is left cannot be sold."""
    market = order.market
    fee_base = order.fee if order.fee_currency == market.base else Decimal("0")
    fee_quote = order.fee if order.fee_currency == market.quote else Decimal("0")
    price = order.cost / order.filled
    position = order.position
    if order.side == Side.BUY:
        if position is None:
            position = SpotPosition(bot=order.bot, connection=order.connection, market=market,
                                    explanation=order.explanation)  # fmt: skip
        elif order.purpose == Purpose.ADD:
            position.adds += 1
        position.amount += order.filled - fee_base
        position.cost += order.cost
        position.fees += _fee_in_quote(order)
        position.last_entry_price = price.quantize(Decimal("0.0000000001"))
        risk = order.explanation.get("risk", {})
        entry = position.entry_price = (position.cost / position.amount).quantize(Decimal("0.0000000001"))
        if risk.get("stop_loss_pct") is not None:
            position.stop_price = (entry * (1 - Decimal(risk["stop_loss_pct"]) / 100)).quantize(market.price_step)
            position.take_price = (entry * (1 + Decimal(risk["take_profit_pct"]) / 100)).quantize(market.price_step)
        return position
    position.amount -= order.filled
    position.proceeds += order.cost - fee_quote
    position.fees += _fee_in_quote(order)
    left = quantize_down(position.amount, market.amount_step)
    if left <= 0 or left < market.min_amount or left * price < market.min_notional:
        position.status, position.closed_at = PositionStatus.CLOSED, timezone.now()
        position.exit_price = price.quantize(Decimal("0.0000000001"))
        position.close_reason = order.explanation.get("why") or order.get_purpose_display()
    return position


def paper_orders_execute(intents: list[OrderIntent]) -> list[SpotOrder]:
    """Many paper orders at once (a decision fanned out to many bots): one transaction, the fills of all in one
    `transfer_many`, positions and orders written in bulk. Each order fills or is refused on its own, against
    balances read under the ledger's lock. A client order id used before makes the whole set go one by one."""
    if not intents:
        return []
    orders = [intent.row() for intent in intents]
    books = Books(orders)
    with transaction.atomic():
        try:
            with transaction.atomic():
                SpotOrder.objects.bulk_create(orders)
        except IntegrityError:
            return [order_send(**vars(intent)).order for intent in intents]
        # Other apps' rows before ledger accounts (the ledger's lock order): positions, then accounts.
        held = SpotPosition.objects.select_for_update().in_bulk([o.position_id for o in orders if o.position_id])
        balances = ledger_accounts_lock(ids=set(books.ids.values()) | _system_ids(books, orders))
        for order in orders:
            if order.position_id:
                order.position = held[order.position_id]
                if order.position.status != PositionStatus.OPEN:
                    order.status, order.reason = OrderStatus.CANCELLED, "The position was closed before this order."
                    continue
            try:
                result = paper_quote(market=order.market, side=order.side, amount=order.amount)
            except Refused as exc:
                order.status, order.reason = OrderStatus.REJECTED, exc.reason
                continue
            asset, needed = _paying(order.market, order.side, result)
            account = books.user(order.connection, asset)
            if balances[account] < needed:
                order.status, order.reason = OrderStatus.REJECTED, INSUFFICIENT
                continue
            _record(order, result)
            for spec in fill_specs(order, books):
                balances[spec.debit_id] = balances.get(spec.debit_id, Decimal(0)) - spec.amount
                balances[spec.credit_id] = balances.get(spec.credit_id, Decimal(0)) + spec.amount
        filled = [o for o in orders if o.filled > 0]
        transfer_many([spec for o in filled for spec in fill_specs(o, books)], return_transfers=False)
        positions = [position_update(o) for o in filled]
        new = [p for p in positions if p.pk is None]
        changed = [p for p in positions if p.pk is not None]
        SpotPosition.objects.bulk_create(new)
        update_objects(SpotPosition, changed, POSITION_STATE)
        now = timezone.now()
        for order, position in zip(filled, positions, strict=True):
            order.position = position
        for order in orders:
            order.updated_at = now
        update_objects(SpotOrder, orders, ORDER_STATE)
    return orders


def _system_ids(books: Books, orders: list[SpotOrder]) -> set[int]:
    """Every world and fee account the orders may write: locked with the rest, in the ledger's order."""
    ids = set()
    for order in orders:
        for asset in (order.market.base, order.market.quote):
            ids.add(books.world(order.connection, asset))
            ids.add(books.world(order.connection, asset, AccountKind.FEES))
    return ids


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


def positions_reconcile(*, connection: ExchangeConnection) -> list[SpotPosition]:
    """Open positions hold no more of an asset than the connection's ledger account does (the exchange's word once
    `balances_sync` ran): what was sold outside Nexus comes off the newest positions, valued at the last price,
    and closes those left with nothing that can be sold."""
    changed = []
    with transaction.atomic():
        positions = (
            SpotPosition.objects.select_for_update()
            .filter(connection=connection, status=PositionStatus.OPEN)
            .select_related("market")
            .order_by("-opened_at", "-id")
        )
        by_asset: dict[str, list[SpotPosition]] = {}
        for position in positions:
            by_asset.setdefault(position.market.base, []).append(position)
        for asset, newest_first in by_asset.items():
            excess = sum(p.amount for p in newest_first) - asset_account(connection, asset).balance
            for position in newest_first:
                if excess <= 0:
                    break
                market, cut = position.market, min(position.amount, excess)
                price = market.last_price or position.last_entry_price or Decimal("0")
                position.amount -= cut
                position.proceeds += (cut * price).quantize(PLACES, rounding=ROUND_DOWN)
                excess -= cut
                if position.amount * price < market.min_notional or position.amount < market.min_amount:
                    position.status, position.closed_at, position.exit_price = (
                        PositionStatus.CLOSED,
                        timezone.now(),
                        price,
                    )
                    position.close_reason = (
                        "No longer held at the exchange (sold outside Nexus); valued at the last price."
                    )
                position.save()
                changed.append(position)
    return changed
