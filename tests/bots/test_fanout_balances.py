"""One bot whose account cannot pay its stake fails alone: the other bots on its configuration still buy."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.services import account_open_demo
from apps.bots.models import Bot, BotSkip, BotTrade
from apps.bots.services import bot_start, markets_decide
from apps.bots.tasks import execute_decision
from apps.ledger.models import AccountKind, LedgerAccount, Realm, TransferKind
from apps.ledger.services import system_account, transfer
from apps.trading.models import Contract
from apps.trading.services import contract_buy
from apps.trading.signals import account_refusals_requested
from tests.support.threads import Interleaving

from .conftest import climb, write_ticks


def two_bots_one_poor(user, other_user, make_bot, market):
    """Two running bots on one configuration; the second one's account holds 1.50, enough for one 1.00 stake."""
    rich = bot_start(user=user, bot_id=make_bot().pk)
    poor_account = account_open_demo(user=other_user)
    poor = bot_start(user=other_user, bot_id=make_bot(owner=other_user, account=poor_account, name="Poor").pk)
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    transfer(
        debit=poor_account.ledger_account,
        credit=world,
        amount=Decimal("9998.50"),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="down-to-1.50",
    )
    write_ticks(market, climb())
    decision = next(d for d in markets_decide(market_ids=[market.pk]) if d.config_id == rich.config_id)
    assert decision.direction == "RISE"
    return rich, poor, decision


def buy_by_hand(account, market):
    return contract_buy(
        user=account.user,
        account=account,
        market=market,
        direction="FALL",
        stake=Decimal("1.00"),
        duration=5,
        duration_unit="t",
        idempotency_key="by-hand",
    )


def test_an_account_emptied_while_the_fan_out_runs_refuses_only_its_own_bot(user, other_user, make_bot, market):
    rich, poor, decision = two_bots_one_poor(user, other_user, make_bot, market)
    spent = []

    def trader_buys_by_hand(sender, account_ids, **kwargs):
        # The trader's own purchase lands while the fan-out validates its orders (asked once per fan-out).
        if not spent:
            spent.append(buy_by_hand(poor.account, market))
        return {}

    account_refusals_requested.connect(trader_buys_by_hand, dispatch_uid="tests.trader_buys_by_hand")
    try:
        execute_decision(decision.pk)
    finally:
        account_refusals_requested.disconnect(dispatch_uid="tests.trader_buys_by_hand")

    assert len(spent) == 1
    assert list(BotTrade.objects.values_list("bot_id", flat=True)) == [rich.pk]
    rich, poor = Bot.objects.get(pk=rich.pk), Bot.objects.get(pk=poor.pk)
    assert (rich.trades_today, rich.consecutive_errors) == (1, 0)
    assert (poor.trades_today, poor.consecutive_errors) == (0, 1)
    assert not BotSkip.objects.filter(bot=rich).exists()
    skip = BotSkip.objects.get(bot=poor)
    assert skip.reason == "REJECTED" and "does not cover this stake" in skip.last_detail
    assert LedgerAccount.objects.get(pk=poor.account.ledger_account_id).balance == Decimal("0.50")


@pytest.fixture
def patient_prices(settings):
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 600.0}


@pytest.mark.dbsensitive
def test_a_purchase_by_hand_during_the_fan_out_takes_the_last_stake_or_loses_it_never_the_batch(
    transactional_db, user, other_user, make_bot, market, patient_prices
):
    rich, poor, decision = two_bots_one_poor(user, other_user, make_bot, market)
    interleaving = Interleaving()

    def held(sender, **kwargs):
        # The fan-out has read its bots and is validating its orders: the trader buys by hand now.
        interleaving.pause()
        return {}

    def by_hand():
        try:
            return buy_by_hand(poor.account, market)
        except ValidationError as refused:
            return refused

    account_refusals_requested.connect(held, dispatch_uid="tests.held_fan_out")
    try:
        (_, manual), exceptions = interleaving.run(lambda: execute_decision(decision.pk), by_hand)
    finally:
        account_refusals_requested.disconnect(dispatch_uid="tests.held_fan_out")

    assert exceptions == []
    rich, poor = Bot.objects.get(pk=rich.pk), Bot.objects.get(pk=poor.pk)
    assert (rich.trades_today, rich.consecutive_errors) == (1, 0)
    # Whoever came second found 0.50 left: either the purchase by hand or the poor bot was refused, alone.
    if isinstance(manual, ValidationError):
        assert "does not cover this stake" in " ".join(manual.messages)
        assert (poor.trades_today, poor.consecutive_errors) == (1, 0)
    else:
        assert (poor.trades_today, poor.consecutive_errors) == (0, 1)
        assert BotSkip.objects.get(bot=poor).reason == "REJECTED"
    assert Contract.objects.filter(account=poor.account).count() == 1
    assert LedgerAccount.objects.get(pk=poor.account.ledger_account_id).balance == Decimal("0.50")
