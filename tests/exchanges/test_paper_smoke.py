from decimal import Decimal

from apps.exchanges.models import OrderStatus, Purpose, Side, SpotBot, SpotBotStatus
from apps.exchanges.selectors import equity_of
from apps.exchanges.services.connections import asset_account
from apps.exchanges.services.cycle import bots_decide
from apps.exchanges.services.orders import order_send

from .conftest import candles_store, rising


def test_a_paper_buy_moves_quote_base_and_fee_through_the_ledger(paper, btc):
    sent = order_send(
        connection=paper, market=btc, side=Side.BUY, amount=Decimal("0.01"), purpose=Purpose.OPEN, client_id="x1"
    )
    assert sent.order.status == OrderStatus.FILLED
    assert asset_account(paper, "USDT").balance == Decimal("10000") - sent.order.cost
    assert asset_account(paper, "BTC").balance == Decimal("0.01") - sent.order.fee
    assert equity_of(connection=paper) < Decimal("10000")


def test_a_running_bot_opens_a_position_on_a_rising_market(user, paper, btc):
    candles_store(btc, rising(900))
    bot = SpotBot.objects.create(
        user=user,
        connection=paper,
        market=btc,
        name="b",
        strategies={"momentum": {}, "breakout": {}, "scalping": {}},
        min_agreeing=1,
        min_confidence=Decimal("0.10"),
        status=SpotBotStatus.RUNNING,
    )
    assert bots_decide(market_id=btc.pk, timeframe="1m") == 1
    bot.refresh_from_db()
    print(bot.last_skip)
    assert bot.positions.count() == 1, bot.last_skip
