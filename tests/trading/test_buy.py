"""Buying a contract: the stake moves into escrow once, and the contract records its terms."""

import datetime
from decimal import Decimal

import pytest
from django.test import RequestFactory

from apps.audit.models import AuditEvent
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import system_account, transfer
from apps.markets.models import Market, TieRule
from apps.trading.models import Contract, Status

from .support import balance, buy, make_market


@pytest.fixture
def market(db):
    return make_market(payout_percent="85.00", tie_rule=TieRule.LOSE)


def escrow_balance():
    escrow = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency="USD")
    return LedgerAccount.objects.get(pk=escrow.pk).balance


def test_a_buy_moves_the_stake_from_the_account_into_escrow(demo_account, market):
    contract = buy(demo_account, market, stake="25.50")

    assert balance(demo_account) == Decimal("9974.50")
    assert escrow_balance() == Decimal("25.50")
    stake = Transfer.objects.get(reference=f"contract:{contract.pk}")
    assert (stake.kind, stake.amount, stake.idempotency_key) == (
        TransferKind.STAKE,
        Decimal("25.50"),
        f"contract:{contract.pk}:stake",
    )


def test_a_bought_contract_is_open_with_the_markets_terms_fixed_at_purchase(demo_account, market):
    contract = buy(demo_account, market, direction="FALL", stake="10.00", duration=5, unit="t")

    Market.objects.filter(pk=market.pk).update(payout_percent=Decimal("50.00"), tie_rule=TieRule.REFUND)
    contract.refresh_from_db()
    assert contract.status == Status.OPEN
    assert (contract.direction, contract.stake, contract.duration, contract.duration_unit) == ("FALL", 10, 5, "t")
    assert (contract.payout_percent, contract.payout, contract.tie_rule) == (
        Decimal("85.00"),
        Decimal("18.50"),
        TieRule.LOSE,
    )
    assert contract.purchase_seq == market.last_seq == 1
    assert contract.exit_seq == 1 + 1 + 5
    assert contract.expires_at is None
    assert contract.entry_spot is contract.exit_spot is contract.amount_paid is None


def test_a_minute_contract_expires_its_duration_after_purchase(demo_account, market):
    contract = buy(demo_account, market, duration=15, unit="m")

    assert contract.expires_at - contract.purchased_at == datetime.timedelta(minutes=15)
    assert contract.exit_seq is None


@pytest.mark.parametrize("stake", ["0.35", "1000.00"], ids=["minimum", "maximum"])
def test_stakes_at_the_limits_are_accepted(demo_account, market, stake):
    contract = buy(demo_account, market, stake=stake)

    assert contract.stake == Decimal(stake)


def test_a_stake_of_the_whole_balance_is_accepted(demo_account, market):
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    transfer(
        debit=demo_account.ledger_account,
        credit=world,
        amount=Decimal("9999.18"),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="spend",
    )

    # 0.82 - 0.36 is 0.45999999999999996 in binary floating point.
    buy(demo_account, market, stake="0.36")
    buy(demo_account, market, stake="0.46")

    assert balance(demo_account) == Decimal("0.00")


@pytest.mark.parametrize("duration", [1, 10])
def test_tick_durations_at_the_limits_are_accepted(demo_account, market, duration):
    assert buy(demo_account, market, duration=duration, unit="t").duration == duration


@pytest.mark.parametrize("duration", [1, 5, 15, 30, 60])
def test_every_offered_minute_duration_is_accepted(demo_account, market, duration):
    assert buy(demo_account, market, duration=duration, unit="m").duration == duration


def test_a_double_submit_with_the_same_key_buys_once(demo_account, market):
    first = buy(demo_account, market, stake="40.00", key="form-123")
    second = buy(demo_account, market, stake="40.00", key="form-123")

    assert first.pk == second.pk
    assert Contract.objects.count() == 1
    assert Transfer.objects.filter(kind=TransferKind.STAKE).count() == 1
    assert balance(demo_account) == Decimal("9960.00")
    assert AuditEvent.objects.filter(action="contract.buy").count() == 1


def test_a_repeated_key_returns_the_first_contract_even_if_the_market_paused_since(demo_account, market):
    first = buy(demo_account, market, key="form-1")
    Market.objects.filter(pk=market.pk).update(is_active=False)

    assert buy(demo_account, market, key="form-1").pk == first.pk


def test_the_same_key_from_two_users_buys_two_contracts(demo_account, other_user, market):
    from apps.accounts.services import account_open_demo

    theirs = account_open_demo(user=other_user)

    mine = buy(demo_account, market, key="same")
    other = buy(theirs, market, key="same")

    assert mine.pk != other.pk
    assert (balance(demo_account), balance(theirs)) == (Decimal("9990.00"), Decimal("9990.00"))


def test_different_keys_buy_separate_contracts(demo_account, market):
    buy(demo_account, market, key="a")
    buy(demo_account, market, key="b")

    assert Contract.objects.count() == 2
    assert balance(demo_account) == Decimal("9980.00")


def test_a_buy_is_audited_with_its_terms_and_the_traders_address(demo_account, market):
    from .support import contract_buy

    request = RequestFactory().post("/", REMOTE_ADDR="198.51.100.4")
    contract = contract_buy(
        user=demo_account.user,
        account=demo_account,
        market=market,
        direction="RISE",
        stake=Decimal("12.00"),
        duration=5,
        duration_unit="m",
        idempotency_key="audited",
        request=request,
    )

    event = AuditEvent.objects.get(action="contract.buy")
    assert (event.actor, event.target_id, event.ip) == (demo_account.user, str(contract.pk), "198.51.100.4")
    assert event.data == {"market": market.symbol, "direction": "RISE", "stake": "12.00", "duration": "5m"}
