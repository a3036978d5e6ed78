import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.bots.models import KillSwitch
from apps.exchanges.models import OrderStatus, PositionStatus, SpotBot, SpotBotStatus, SpotOrder
from apps.exchanges.services.cycle import bots_decide, positions_close

from .conftest import candles_store, rising

CONSENSUS = {"strategies": {"momentum": {}, "breakout": {}, "scalping": {}}, "min_agreeing": 1,
             "min_confidence": Decimal("0.10")}  # fmt: skip


@pytest.fixture
def make_bot(user, paper, btc):
    def make(**fields):
        return SpotBot.objects.create(
            **({"user": user, "connection": paper, "market": btc, "name": "b", "status": SpotBotStatus.RUNNING}
               | CONSENSUS | fields)
        )  # fmt: skip

    return make


def step(btc, closes):
    """Store the next candles after those stored, then run the cycle."""
    last = btc.candles.order_by("-opened_at").first()
    end = last.opened_at + timedelta(minutes=1 + len(closes)) if last else None
    candles_store(btc, closes, end=end)
    return bots_decide(market_id=btc.pk, timeframe="1m")


def climb(btc):
    candles_store(btc, rising(900))
    return bots_decide(market_id=btc.pk, timeframe="1m")


def test_a_rise_opens_a_position_sized_as_a_share_of_equity_with_its_explanation(make_bot, btc):
    bot = make_bot(position_pct=Decimal("5"))

    climb(btc)

    position = bot.positions.get()
    assert Decimal("490") < position.cost <= Decimal("500.25")  # 5% of 10,000 at the price, plus the slippage
    assert position.explanation["decision"]["direction"] == "RISE"
    assert {v["strategy"] for v in position.explanation["votes"]} == {"momentum", "breakout", "scalping"}
    assert position.explanation["regime"]["kind"]
    assert position.stop_price < position.entry_price < position.take_price


def test_a_candle_is_acted_on_once_however_often_the_cycle_runs(make_bot, btc):
    make_bot()
    climb(btc)

    assert bots_decide(market_id=btc.pk, timeframe="1m") == 0

    assert SpotOrder.objects.count() == 1


def test_the_stop_loss_closes_the_position(make_bot, btc):
    bot = make_bot()
    climb(btc)
    position = bot.positions.get()

    step(btc, [float(position.stop_price) * 0.99])

    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSED
    assert "stop-loss" in position.close_reason
    assert position.realized_pnl < 0


def test_the_take_profit_closes_the_position_in_profit(make_bot, btc):
    bot = make_bot()
    climb(btc)
    position = bot.positions.get()

    step(btc, [float(position.take_price) * 1.01])

    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSED and "take-profit" in position.close_reason
    assert position.realized_pnl > 0


def test_pyramiding_adds_to_a_winner_up_to_its_maximum(make_bot, btc):
    bot = make_bot(pyramiding=True, max_adds=1, add_spacing_pct=Decimal("0.5"), take_profit_pct=Decimal("50"))
    climb(btc)
    last = float(bot.positions.get().last_entry_price)

    step(btc, [last * 1.006])
    step(btc, [last * 1.013])

    position = bot.positions.get()
    assert position.adds == 1
    assert SpotOrder.objects.filter(purpose="ADD").count() == 1


@pytest.mark.parametrize("scope", ["user", "global"])
def test_a_kill_switch_stops_new_positions_and_says_so(make_bot, btc, user, scope):
    KillSwitch.objects.create(user=user if scope == "user" else None, engaged=True)
    bot = make_bot()

    climb(btc)

    bot.refresh_from_db()
    assert not bot.positions.exists()
    assert "kill switch is on" in bot.last_skip


def test_the_trader_can_close_positions_at_market_while_the_kill_switch_is_on(make_bot, btc, user, paper):
    bot = make_bot()
    climb(btc)
    KillSwitch.objects.create(user=user, engaged=True)

    orders = positions_close(user=user, connection_id=paper.pk)

    assert [o.status for o in orders] == [OrderStatus.FILLED]
    assert bot.positions.get().status == PositionStatus.CLOSED


def test_the_daily_trade_limit_stops_new_positions(make_bot, btc):
    bot = make_bot()
    SpotBot.objects.filter(pk=bot.pk).update(max_trades_per_day=0)

    climb(btc)

    bot.refresh_from_db()
    assert not bot.positions.exists() and "daily limit" in bot.last_skip


def test_a_position_under_the_minimum_order_is_skipped_with_the_reason_not_counted_as_an_error(make_bot, btc, paper):
    from apps.exchanges.services.connections import asset_account, world_account
    from apps.ledger.models import TransferKind
    from apps.ledger.services import transfer

    bot = make_bot(position_pct=Decimal("10"))
    transfer(debit=asset_account(paper, "USDT"), credit=world_account(paper, "USDT"), amount=Decimal("9960.00"),
             kind=TransferKind.ADJUSTMENT, idempotency_key="drain")  # fmt: skip

    climb(btc)

    bot.refresh_from_db()
    assert bot.status == SpotBotStatus.RUNNING and bot.errors_in_row == 0
    assert "minimum order of 5 USDT" in bot.last_skip
    assert not SpotOrder.objects.exists()


def test_rejected_orders_in_a_row_disable_the_bot_at_its_limit(user, live, binance):
    from apps.exchanges.models import SpotMarket

    btc = SpotMarket.objects.get(symbol="BTC/USDT")
    bot = SpotBot.objects.create(user=user, connection=live, market=btc, name="b", status=SpotBotStatus.RUNNING,
                                 errors_in_row=4, **CONSENSUS)  # fmt: skip
    binance.reject_next(-2010, "Account has insufficient balance for requested action.", path="/api/v3/order")

    climb(btc)

    bot.refresh_from_db()
    assert bot.status == SpotBotStatus.DISABLED
    assert "5 errors in a row" in bot.status_reason and "insufficient balance" in bot.status_reason
    assert SpotOrder.objects.get().status == OrderStatus.REJECTED


def test_the_exchange_unreachable_pauses_the_bot_visibly_and_it_resumes(user, live, binance):
    from apps.exchanges.models import SpotMarket

    btc = SpotMarket.objects.get(symbol="BTC/USDT")
    bot = SpotBot.objects.create(user=user, connection=live, market=btc, name="b", status=SpotBotStatus.RUNNING,
                                 **CONSENSUS)  # fmt: skip
    from apps.exchanges.services import cycle

    cycle._resynced[live.pk] = time.monotonic()  # read back already: the exchange goes down as the order leaves
    binance.unreachable(True)
    climb(btc)
    bot.refresh_from_db()
    assert "did not answer" in bot.last_skip and bot.status == SpotBotStatus.RUNNING

    step(btc, [float(btc.candles.order_by("-opened_at").first().close) * 1.0005])
    bot.refresh_from_db()
    assert "Paused: Binance did not answer" in bot.last_skip

    binance.unreachable(False)
    step(btc, [float(btc.candles.order_by("-opened_at").first().close) * 1.0005])
    bot.refresh_from_db()
    assert bot.positions.filter(status=PositionStatus.OPEN).count() == 1
    assert set(SpotOrder.objects.values_list("status", flat=True)) == {OrderStatus.CANCELLED, OrderStatus.FILLED}


def test_a_drawdown_past_the_limit_disables_the_bot(make_bot, btc):
    bot = make_bot()
    SpotBot.objects.filter(pk=bot.pk).update(peak_equity=Decimal("20000"))

    climb(btc)

    bot.refresh_from_db()
    assert bot.status == SpotBotStatus.DISABLED and "below its peak" in bot.status_reason


def test_stale_prices_pause_the_bot_visibly_and_it_resumes_on_fresh_ones(make_bot, btc):
    bot = make_bot()
    candles_store(btc, rising(900), end=timezone.now() - timedelta(minutes=10))

    bots_decide(market_id=btc.pk, timeframe="1m")

    bot.refresh_from_db()
    assert "No fresh prices" in bot.last_skip and bot.decided_until is None
    step(btc, [p * 1.0 for p in rising(905)[-9:]])
    bot.refresh_from_db()
    assert bot.decided_until is not None


def test_the_plans_open_position_limit_applies(make_bot, btc, paper, free_plan_by_default):
    from apps.exchanges.models import SpotPosition

    other = make_bot(status=SpotBotStatus.STOPPED)
    for _ in range(3):  # the Free plan's three open positions, held by another bot
        SpotPosition.objects.create(bot=other, connection=paper, market=btc)
    bot = make_bot()

    climb(btc)

    bot.refresh_from_db()
    assert not bot.positions.exists() and "Free plan allows 3 open positions" in bot.last_skip


def test_the_days_filled_orders_count_toward_the_daily_limit(make_bot, btc, paper):
    bot = make_bot()
    SpotBot.objects.filter(pk=bot.pk).update(max_trades_per_day=2)
    for i in range(2):
        SpotOrder.objects.create(client_order_id=f"old{i}", connection=paper, bot=bot, market=btc, side="buy",
                                 purpose="OPEN", amount=Decimal("0.001"), status=OrderStatus.FILLED)  # fmt: skip

    climb(btc)

    bot.refresh_from_db()
    assert not bot.positions.exists() and "2 trades today" in bot.last_skip


def test_many_bots_on_one_candle_are_filled_together_each_with_its_own_position(make_bot, btc, user, other_user):
    from apps.exchanges.services.connections import paper_connection

    other_paper = paper_connection(user=other_user)
    bots = [make_bot(name=f"b{i}") for i in range(3)]
    bots.append(make_bot(user=other_user, connection=other_paper, name="theirs"))

    assert climb(btc) == 4

    assert SpotOrder.objects.filter(status=OrderStatus.FILLED).count() == 4
    for bot in bots:
        assert bot.positions.get().orders.get().bot_id == bot.pk


def test_after_a_restart_balances_and_positions_are_read_back_from_the_exchange_before_any_order(user, live, binance):
    from apps.exchanges.models import SpotMarket
    from apps.exchanges.services import cycle
    from apps.exchanges.services.connections import asset_account

    from .conftest import KEY

    btc = SpotMarket.objects.get(symbol="BTC/USDT")
    bot = SpotBot.objects.create(user=user, connection=live, market=btc, name="b", status=SpotBotStatus.RUNNING,
                                 max_open_positions=2, **CONSENSUS)  # fmt: skip
    climb(btc)
    sold_outside = bot.positions.get()
    # While the worker was down, the trader sold the BTC at the exchange and deposited 500 USDT.
    binance.set_balance(KEY, "BTC", "0")
    binance.set_balance(KEY, "USDT", str(binance.balances_of(KEY)["USDT"][0] + 500))
    cycle._resynced.clear()

    step(btc, [float(btc.candles.order_by("-opened_at").first().close) * 1.0005])

    sold_outside.refresh_from_db()
    assert sold_outside.status == PositionStatus.CLOSED and "sold outside Nexus" in sold_outside.close_reason
    # Then the bot opened its next position on the books as the exchange has them.
    new = bot.positions.get(status=PositionStatus.OPEN)
    assert asset_account(live, "BTC").balance == binance.balances_of(KEY)["BTC"][0] == new.amount
    assert asset_account(live, "USDT").balance == binance.balances_of(KEY)["USDT"][0]


def test_a_deposit_at_the_exchange_reaches_the_books_at_the_next_resync(user, live, binance, settings):
    from apps.exchanges.models import SpotMarket
    from apps.exchanges.services.connections import asset_account

    from .conftest import KEY

    btc = SpotMarket.objects.get(symbol="BTC/USDT")
    SpotBot.objects.create(user=user, connection=live, market=btc, name="b", status=SpotBotStatus.RUNNING,
                           **CONSENSUS)  # fmt: skip
    candles_store(btc, rising(900))
    settings.EXCHANGE_RESYNC_S = 3600
    bots_decide(market_id=btc.pk, timeframe="1m")
    binance.set_balance(KEY, "USDT", str(binance.balances_of(KEY)["USDT"][0] + 250))

    step(btc, [float(btc.candles.order_by("-opened_at").first().close) * 1.0005])
    assert asset_account(live, "USDT").balance != binance.balances_of(KEY)["USDT"][0]  # not yet due

    settings.EXCHANGE_RESYNC_S = 0
    step(btc, [float(btc.candles.order_by("-opened_at").first().close) * 1.0005])
    assert asset_account(live, "USDT").balance == binance.balances_of(KEY)["USDT"][0]
