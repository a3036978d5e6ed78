"""Settlement follows Deriv's rules, on hand-written ticks so every price is exact."""

import datetime
from decimal import Decimal

import pytest

from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import system_account
from apps.markets.models import Market, TieRule
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle, outcome, payout_for

from .support import balance, buy, make_market, write_tick, write_ticks


@pytest.fixture
def refund_market(db):
    return make_market("OTC_REFUND", tie_rule=TieRule.REFUND)


@pytest.fixture
def lose_market(db):
    return make_market("DERIV_LIKE", tie_rule=TieRule.LOSE)


def settled(contract):
    contracts_settle()
    contract.refresh_from_db()
    return contract


def system_balance(kind):
    account = system_account(kind=kind, realm=Realm.DEMO, currency="USD")
    return LedgerAccount.objects.get(pk=account.pk).balance


@pytest.mark.parametrize(
    ("direction", "entry", "exit", "status"),
    [
        ("RISE", "100.00", "100.01", Status.WON),
        ("RISE", "100.00", "99.99", Status.LOST),
        ("FALL", "100.00", "99.99", Status.WON),
        ("FALL", "100.00", "100.01", Status.LOST),
    ],
    ids=["rise-up-wins", "rise-down-loses", "fall-down-wins", "fall-up-loses"],
)
def test_rise_wins_when_exit_is_above_entry_and_fall_when_below(
    demo_account, refund_market, direction, entry, exit, status
):
    contract = buy(demo_account, refund_market, direction=direction, duration=1)
    write_ticks(refund_market, entry, exit)

    contract = settled(contract)

    assert contract.status == status
    assert (contract.entry_spot, contract.exit_spot) == (Decimal(entry), Decimal(exit))


def test_a_win_pays_the_payout_and_the_house_pays_the_profit(demo_account, refund_market):
    contract = buy(demo_account, refund_market, stake="10.00", duration=1)
    write_ticks(refund_market, "100.00", "101.00")

    contract = settled(contract)

    assert (contract.amount_paid, contract.profit) == (Decimal("18.00"), Decimal("8.00"))
    assert balance(demo_account) == Decimal("10008.00")
    assert system_balance(AccountKind.ESCROW) == Decimal("0.00")
    assert system_balance(AccountKind.HOUSE) == Decimal("-8.00")
    keys = set(Transfer.objects.filter(reference=f"contract:{contract.pk}").values_list("idempotency_key", "kind"))
    assert keys == {
        (f"contract:{contract.pk}:stake", TransferKind.STAKE),
        (f"contract:{contract.pk}:return", TransferKind.PAYOUT),
        (f"contract:{contract.pk}:win", TransferKind.PAYOUT),
    }


def test_a_loss_pays_nothing_and_the_stake_goes_to_the_house(demo_account, refund_market):
    contract = buy(demo_account, refund_market, stake="10.00", duration=1)
    write_ticks(refund_market, "100.00", "99.00")

    contract = settled(contract)

    assert (contract.amount_paid, contract.profit) == (Decimal("0.00"), Decimal("-10.00"))
    assert balance(demo_account) == Decimal("9990.00")
    assert system_balance(AccountKind.HOUSE) == Decimal("10.00")
    loss = Transfer.objects.get(reference=f"contract:{contract.pk}", kind=TransferKind.LOSS)
    assert loss.amount == Decimal("10.00")


@pytest.mark.parametrize("direction", ["RISE", "FALL"])
def test_an_equal_exit_refunds_the_stake_on_a_refund_market(demo_account, refund_market, direction):
    contract = buy(demo_account, refund_market, direction=direction, stake="10.00", duration=2)
    write_ticks(refund_market, "100.00", "105.00", "100.00")

    contract = settled(contract)

    assert (contract.status, contract.amount_paid) == (Status.TIE, Decimal("10.00"))
    assert balance(demo_account) == Decimal("10000.00")
    assert Transfer.objects.get(reference=f"contract:{contract.pk}", kind=TransferKind.REFUND).amount == 10


@pytest.mark.parametrize("direction", ["RISE", "FALL"])
def test_an_equal_exit_loses_on_a_lose_market(demo_account, lose_market, direction):
    contract = buy(demo_account, lose_market, direction=direction, stake="10.00", duration=1)
    write_ticks(lose_market, "100.00", "100.00")

    contract = settled(contract)

    assert (contract.status, contract.amount_paid) == (Status.LOST, Decimal("0.00"))
    assert balance(demo_account) == Decimal("9990.00")


def test_the_tie_rule_is_the_one_in_force_at_purchase(demo_account, refund_market):
    contract = buy(demo_account, refund_market, duration=1)
    Market.objects.filter(pk=refund_market.pk).update(tie_rule=TieRule.LOSE)
    write_ticks(refund_market, "100.00", "100.00")

    assert settled(contract).status == Status.TIE


def test_the_payout_is_the_one_in_force_at_purchase(demo_account, refund_market):
    contract = buy(demo_account, refund_market, stake="10.00", duration=1)
    Market.objects.filter(pk=refund_market.pk).update(payout_percent=Decimal("10.00"))
    write_ticks(refund_market, "100.00", "100.50")

    assert settled(contract).amount_paid == Decimal("18.00")


def test_the_entry_spot_is_the_first_tick_after_purchase(demo_account, refund_market):
    # The last tick before purchase was 100.00 (seq 1); the entry is the next one.
    contract = buy(demo_account, refund_market, direction="RISE", duration=1)
    entry, _ = write_ticks(refund_market, "150.00", "120.00")

    contract = settled(contract)

    assert (contract.entry_spot, contract.entry_time) == (Decimal("150.00"), entry.time)
    assert contract.status == Status.LOST


def test_a_tick_contract_exits_on_the_nth_tick_after_entry(demo_account, refund_market):
    contract = buy(demo_account, refund_market, direction="RISE", duration=5)
    write_ticks(refund_market, "100.00", "90.00", "91.00", "92.00", "93.00")

    assert contracts_settle() == []
    contract.refresh_from_db()
    assert contract.status == Status.OPEN

    exit_tick = write_tick(refund_market, "100.01")
    write_tick(refund_market, "50.00")
    contract = settled(contract)

    assert (contract.exit_spot, contract.exit_time) == (Decimal("100.01"), exit_tick.time)
    assert contract.status == Status.WON


@pytest.mark.parametrize("duration", range(1, 11))
def test_every_tick_duration_exits_at_entry_plus_n(demo_account, refund_market, duration):
    contract = buy(demo_account, refund_market, direction="RISE", duration=duration)
    prices = [f"{100 + i}.00" for i in range(duration + 3)]
    write_ticks(refund_market, *prices)

    contract = settled(contract)

    assert (contract.entry_spot, contract.exit_spot) == (Decimal(prices[0]), Decimal(prices[duration]))


def test_a_minute_contract_exits_on_the_last_tick_at_or_before_expiry(demo_account, refund_market):
    contract = buy(demo_account, refund_market, direction="FALL", duration=1, unit="m")
    second = datetime.timedelta(seconds=1)
    write_tick(refund_market, "100.00", at=contract.purchased_at + second)
    write_tick(refund_market, "80.00", at=contract.expires_at - 10 * second)
    at_expiry = write_tick(refund_market, "99.50", at=contract.expires_at)

    assert contracts_settle() == [], "not due until a tick after expiry exists"

    write_tick(refund_market, "120.00", at=contract.expires_at + second)
    contract = settled(contract)

    assert (contract.entry_spot, contract.exit_spot, contract.exit_time) == (
        Decimal("100.00"),
        Decimal("99.50"),
        at_expiry.time,
    )
    assert contract.status == Status.WON


def test_a_minute_contract_whose_only_tick_before_expiry_is_the_entry_ties(demo_account, refund_market):
    contract = buy(demo_account, refund_market, duration=1, unit="m")
    write_tick(refund_market, "100.00", at=contract.purchased_at + datetime.timedelta(seconds=1))
    write_tick(refund_market, "130.00", at=contract.expires_at + datetime.timedelta(seconds=30))

    contract = settled(contract)

    assert (contract.exit_spot, contract.status) == (Decimal("100.00"), Status.TIE)


def test_a_minute_contract_with_no_price_before_expiry_is_void_and_refunded(demo_account, refund_market):
    contract = buy(demo_account, refund_market, stake="20.00", duration=1, unit="m")
    write_tick(refund_market, "130.00", at=contract.expires_at + datetime.timedelta(minutes=5))

    contract = settled(contract)

    assert (contract.status, contract.amount_paid, contract.exit_spot) == (Status.VOID, Decimal("20.00"), None)
    assert balance(demo_account) == Decimal("10000.00")


def test_a_minute_contract_is_due_only_once_a_tick_after_expiry_exists(demo_account, refund_market):
    contract = buy(demo_account, refund_market, duration=5, unit="m")
    write_tick(refund_market, "100.00", at=contract.purchased_at + datetime.timedelta(seconds=1))
    write_tick(refund_market, "101.00", at=contract.expires_at - datetime.timedelta(seconds=1))

    assert contracts_settle() == []
    assert Contract.objects.get(pk=contract.pk).status == Status.OPEN


@pytest.mark.parametrize(
    ("stake", "percent", "payout"),
    [
        ("0.35", "80.00", "0.63"),
        ("0.37", "80.00", "0.66"),
        ("10.00", "87.50", "18.75"),
        ("1.01", "85.55", "1.87"),
        ("999.99", "100.00", "1999.98"),
        ("0.99", "1.00", "0.99"),
    ],
)
def test_the_payout_is_stake_times_one_plus_percent_rounded_down_to_the_cent(stake, percent, payout):
    assert payout_for(stake=Decimal(stake), payout_percent=Decimal(percent)) == Decimal(payout)


def test_a_winning_minimum_stake_at_eighty_percent_pays_sixty_three_cents(demo_account, refund_market):
    contract = buy(demo_account, refund_market, stake="0.35", duration=1)
    write_ticks(refund_market, "100.00", "100.01")

    contract = settled(contract)

    assert (contract.payout, contract.amount_paid) == (Decimal("0.63"), Decimal("0.63"))
    assert balance(demo_account) == Decimal("10000.28")


def test_a_win_whose_payout_rounds_down_to_the_stake_pays_only_the_stake(demo_account):
    market = make_market("TINY_PAYOUT", payout_percent="1.00")
    contract = buy(demo_account, market, stake="0.99", duration=1)
    write_ticks(market, "100.00", "100.01")

    contract = settled(contract)

    assert (contract.status, contract.amount_paid) == (Status.WON, Decimal("0.99"))
    assert not Transfer.objects.filter(idempotency_key=f"contract:{contract.pk}:win").exists()


def test_a_settled_contract_is_never_settled_again(demo_account, refund_market):
    contract = buy(demo_account, refund_market, stake="10.00", duration=1)
    write_ticks(refund_market, "100.00", "101.00")

    assert contracts_settle() == [contract.pk]
    transfers = Transfer.objects.count()
    write_ticks(refund_market, "102.00", "99.00")

    assert contracts_settle() == []
    assert Transfer.objects.count() == transfers
    assert balance(demo_account) == Decimal("10008.00")
    contract.refresh_from_db()
    assert (contract.status, contract.exit_spot) == (Status.WON, Decimal("101.00"))


def test_settlement_is_limited_to_the_markets_asked_for(demo_account, refund_market, lose_market):
    here = buy(demo_account, refund_market, duration=1)
    there = buy(demo_account, lose_market, duration=1)
    write_ticks(refund_market, "1.00", "2.00")
    write_ticks(lose_market, "1.00", "2.00")

    assert contracts_settle(market_ids=[refund_market.pk]) == [here.pk]
    assert Contract.objects.get(pk=there.pk).status == Status.OPEN


def test_a_batch_limit_settles_the_oldest_first_and_leaves_the_rest_for_the_next_run(demo_account, refund_market):
    contracts = [buy(demo_account, refund_market, duration=1) for _ in range(5)]
    write_ticks(refund_market, "1.00", "2.00")

    assert contracts_settle(limit=3) == [c.pk for c in contracts[:3]]
    assert contracts_settle(limit=3) == [c.pk for c in contracts[3:]]


def test_stakes_that_do_not_add_up_in_binary_settle_one_after_another(demo_account, refund_market, lose_market):
    # In binary floating point 0.35 + 0.70 - 0.35 is 0.6999999999999998: paying
    # out the 0.70 stake would take escrow a hair below zero.
    first = buy(demo_account, refund_market, stake="0.35", duration=1)
    second = buy(demo_account, lose_market, stake="0.70", duration=1)
    write_ticks(refund_market, "1.00", "0.50")
    contracts_settle()
    write_ticks(lose_market, "1.00", "0.50")

    assert contracts_settle() == [second.pk]
    assert Contract.objects.get(pk=first.pk).status == Status.LOST
    assert system_balance(AccountKind.ESCROW) == Decimal("0.00")


@pytest.mark.parametrize(
    ("direction", "entry", "exit", "tie_rule", "expected"),
    [
        ("RISE", None, "1", TieRule.REFUND, Status.VOID),
        ("RISE", "1", None, TieRule.LOSE, Status.VOID),
        ("RISE", "1", "1", TieRule.REFUND, Status.TIE),
        ("FALL", "1", "1", TieRule.LOSE, Status.LOST),
        ("FALL", "2", "1", TieRule.LOSE, Status.WON),
    ],
)
def test_the_outcome_rules(direction, entry, exit, tie_rule, expected):
    entry = Decimal(entry) if entry else None
    exit = Decimal(exit) if exit else None

    assert outcome(direction=direction, entry=entry, exit=exit, tie_rule=tie_rule) == expected
