"""Bots on a Deriv account: the same fan-out, bought at Deriv by the connection manager, paused while disconnected."""

from decimal import Decimal

import pytest

from apps.bots.models import BotSkip, BotStatus, BotTrade
from apps.bots.services import bot_create, bot_start
from apps.bots.tasks import evaluate_markets
from apps.deriv import services
from apps.trading.models import Contract, Status
from apps.trading.services import Buyer, Order, account_unavailable, contracts_buy_many
from tests.bots.conftest import TREND, climb, write_ticks

from .conftest import wait_for
from .support import deriv_market, ledger_balance, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)


def deriv_bot(user, account, market):
    bot = bot_create(
        user=user,
        decision=TREND,
        settings={
            "name": "Deriv trend bot",
            "account": account,
            "market": market,
            "blocked_regimes": [],
            "duration": 5,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        },
    )
    bot_start(user=user, bot_id=bot.pk)
    return bot


def test_a_bot_on_a_deriv_account_trades_at_deriv_and_its_result_comes_back(trader, account, deriv_on):
    market = deriv_market()
    bot = deriv_bot(trader, account, market)
    write_ticks(market, climb())

    evaluate_markets([market.pk])

    trade = BotTrade.objects.get(bot=bot)
    wait_for(lambda: Contract.objects.get(pk=trade.contract_id).status == Status.OPEN, timeout=10)
    contract = Contract.objects.get(pk=trade.contract_id)
    assert contract.at_deriv and contract.deriv_contract_id in deriv_on.open_contracts(account.external_id)
    assert not contract.notify_result

    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: BotTrade.objects.get(pk=trade.pk).result_applied)
    bot.refresh_from_db()
    assert (bot.status, bot.open_contracts, bot.open_stake) == (BotStatus.RUNNING, 0, Decimal("0.00"))
    wait_for(lambda: ledger_balance(account) == deriv_on.balance(account.external_id))


def test_the_same_bulk_order_twice_buys_once_at_deriv(trader, account, deriv_on):
    from django.db import transaction

    market = deriv_market()
    order = Order(Buyer.of(account), "RISE", Decimal("2.00"), 5, "t", "bot:1:decision:1", notify_result=False)
    with transaction.atomic():
        (first,) = contracts_buy_many(market=market, orders=[order])
    with transaction.atomic():
        (again,) = contracts_buy_many(market=market, orders=[order])
    assert first == again
    wait_for(lambda: Contract.objects.get(pk=first).status == Status.OPEN, timeout=10)
    assert len(deriv_on.requests("buy")) == 1


def test_a_disconnected_deriv_account_pauses_its_bots_and_they_trade_again_when_it_is_back(trader, account, deriv_on):
    market = deriv_market()
    bot = deriv_bot(trader, account, market)
    services.deriv_account_connection(account_id=account.pk, connected=False, reason=services.REASON_DOWN)
    write_ticks(market, climb())

    evaluate_markets([market.pk])

    assert not Contract.objects.exists()
    bot.refresh_from_db()
    skip = BotSkip.objects.get(bot=bot)
    assert "disconnected from Deriv" in bot.last_skip and services.REASON_DOWN in skip.last_detail
    # Paused, not failing: no error counted, still running.
    assert (bot.status, bot.consecutive_errors) == (BotStatus.RUNNING, 0)

    services.deriv_account_connection(account_id=account.pk, connected=True)
    write_ticks(market, climb(start=110))
    evaluate_markets([market.pk])

    trade = BotTrade.objects.get(bot=bot)
    wait_for(lambda: Contract.objects.get(pk=trade.contract_id).status == Status.OPEN, timeout=10)


def test_the_refusal_of_a_disconnected_account_is_marked_as_passing(trader, account):
    from django.db import transaction

    services.deriv_account_connection(account_id=account.pk, connected=False, reason=services.REASON_EXPIRED)
    order = Order(Buyer.of(account), "RISE", Decimal("2.00"), 5, "t", "k", notify_result=False)
    with transaction.atomic():
        (refused,) = contracts_buy_many(market=deriv_market(), orders=[order])
    assert account_unavailable(refused) and services.REASON_EXPIRED in refused.messages[0]
