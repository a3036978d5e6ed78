from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.exchanges.models import ConnectionStatus, OrderStatus, PositionStatus, Purpose, Side, SpotMarket, SpotOrder
from apps.exchanges.services.connections import asset_account
from apps.exchanges.services.orders import connection_reconcile, order_send

from .conftest import KEY


def buy(connection, amount="0.001", client_id="nx1-1-open"):
    market = SpotMarket.objects.get(symbol="BTC/USDT")
    return order_send(
        connection=connection,
        market=market,
        side=Side.BUY,
        amount=Decimal(amount),
        purpose=Purpose.OPEN,
        client_id=client_id,
        explanation={"why": "test", "risk": {"stop_loss_pct": "2", "take_profit_pct": "4"}},
    )


def test_a_market_buy_fills_and_is_booked_as_the_exchange_settled_it(live, binance):
    sent = buy(live)

    order = sent.order
    assert order.status == OrderStatus.FILLED
    exchange_side = binance.balances_of(KEY)
    assert asset_account(live, "USDT").balance == exchange_side["USDT"][0]
    assert asset_account(live, "BTC").balance == exchange_side["BTC"][0] == Decimal("0.001") - order.fee
    position = order.position
    assert position.status == PositionStatus.OPEN and position.amount == Decimal("0.001") - order.fee
    assert position.stop_price < position.entry_price < position.take_price


def test_an_order_under_the_minimum_notional_is_rejected_with_the_exchanges_reason(live, binance):
    sent = buy(live, amount="0.00001")

    assert sent.order.status == OrderStatus.REJECTED
    assert "NOTIONAL" in sent.order.reason
    assert asset_account(live, "USDT").balance == Decimal("1000.00")
    assert sent.order.position is None


def test_insufficient_balance_is_rejected(live, binance):
    sent = buy(live, amount="1")

    assert sent.order.status == OrderStatus.REJECTED
    assert "insufficient balance" in sent.order.reason


def test_an_answer_lost_after_the_order_was_placed_is_reconciled_never_placed_twice(live, binance):
    binance.drop_next_order_answer()

    sent = buy(live)

    assert not sent.reached and sent.order.status == OrderStatus.UNKNOWN
    live.refresh_from_db()
    assert live.status == ConnectionStatus.UNREACHABLE
    assert buy(live).order.pk == sent.order.pk  # a retried task finds the row: nothing is sent again
    assert connection_reconcile(connection=live)
    order = SpotOrder.objects.get(pk=sent.order.pk)
    assert order.status == OrderStatus.FILLED and order.filled == Decimal("0.001")
    assert len(binance.orders_for(KEY)) == 1
    assert asset_account(live, "BTC").balance == binance.balances_of(KEY)["BTC"][0]
    live.refresh_from_db()
    assert live.status == ConnectionStatus.ACTIVE


def test_an_order_a_crash_left_unsent_is_found_missing_and_cancelled(live, binance):
    order = SpotOrder.objects.create(
        client_order_id="nx9-1-open",
        connection=live,
        market=SpotMarket.objects.get(symbol="BTC/USDT"),
        side=Side.BUY,
        purpose=Purpose.OPEN,
        amount=Decimal("0.001"),
    )
    SpotOrder.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=1))

    assert connection_reconcile(connection=live)

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and "never placed" in order.reason
    assert binance.orders_for(KEY) == []


def test_a_partial_fill_books_what_filled(live, binance):
    binance.partial_fill_next(Decimal("0.5"))

    order = buy(live, amount="0.002").order

    assert order.status == OrderStatus.PARTIAL
    assert order.filled == Decimal("0.001")
    assert asset_account(live, "BTC").balance == Decimal("0.001") - order.fee


def test_the_exchange_unreachable_leaves_the_order_to_reconcile_and_the_connection_paused(live, binance):
    binance.unreachable(True)

    sent = buy(live)

    assert not sent.reached
    assert not connection_reconcile(connection=live)
    binance.unreachable(False)
    assert connection_reconcile(connection=live)
    assert SpotOrder.objects.get(pk=sent.order.pk).status == OrderStatus.CANCELLED
    live.refresh_from_db()
    assert live.status == ConnectionStatus.ACTIVE


def test_a_sell_closes_the_position_with_its_realised_pnl(live, binance):
    bought = buy(live).order
    binance.advance(600)
    market = SpotMarket.objects.get(symbol="BTC/USDT")
    position = bought.position

    sold = order_send(
        connection=live,
        market=market,
        side=Side.SELL,
        amount=Decimal("0.00099"),
        purpose=Purpose.SIGNAL,
        client_id="nx1-2-signal",
        position=position,
        explanation={"why": "The consensus turned to FALL."},
    ).order

    position.refresh_from_db()
    assert sold.status == OrderStatus.FILLED
    assert position.status == PositionStatus.CLOSED
    assert position.close_reason == "The consensus turned to FALL."
    assert position.realized_pnl == position.proceeds - position.cost
    assert asset_account(live, "USDT").balance == binance.balances_of(KEY)["USDT"][0]
