"""The `transfer` service: the one way money moves between two ledger accounts."""

from decimal import Decimal

import pytest
from django.db import IntegrityError

from apps.ledger.models import AccountKind, Entry, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import (
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    ledger_account_open,
    system_account,
    transfer,
)


@pytest.fixture
def world(db):
    return system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")


@pytest.fixture
def alice(user, world):
    account = ledger_account_open(owner=user, code="user:alice", name="Alice", realm=Realm.DEMO, currency="USD")
    transfer(debit=world, credit=account, amount=Decimal("100.00"), kind=TransferKind.ISSUE, idempotency_key="fund")
    account.refresh_from_db()
    return account


@pytest.fixture
def bob(other_user):
    return ledger_account_open(owner=other_user, code="user:bob", name="Bob", realm=Realm.DEMO, currency="USD")


def move(debit, credit, amount, key, **extra):
    """A plain adjustment transfer; `amount` may be any value, to test what the service refuses."""
    amount = Decimal(amount) if isinstance(amount, str) else amount
    return transfer(
        debit=debit, credit=credit, amount=amount, kind=TransferKind.ADJUSTMENT, idempotency_key=key, **extra
    )


def balances(*accounts):
    return [LedgerAccount.objects.get(pk=a.pk).balance for a in accounts]


def snapshot():
    return (Transfer.objects.count(), Entry.objects.count(), list(LedgerAccount.objects.values_list("pk", "balance")))


def test_a_transfer_moves_the_amount_from_debit_to_credit(alice, bob):
    move(alice, bob, "30.25", "t1")

    assert balances(alice, bob) == [Decimal("69.75"), Decimal("30.25")]


def test_a_transfer_writes_one_transfer_row_and_two_opposite_entries(alice, bob):
    before = Transfer.objects.count()

    made = move(alice, bob, "12.00", "t1", reference="note:1")

    assert Transfer.objects.count() == before + 1
    assert (made.kind, made.amount, made.currency, made.reference) == ("ADJUSTMENT", Decimal("12.00"), "USD", "note:1")
    entries = sorted(made.entries.values_list("account_id", "amount"), key=lambda e: e[1])
    assert entries == [(alice.pk, Decimal("-12.00")), (bob.pk, Decimal("12.00"))]


def test_the_same_idempotency_key_returns_the_first_transfer_and_moves_nothing_more(alice, bob):
    first = move(alice, bob, "10.00", "k")
    state = snapshot()

    again = move(alice, bob, "10.00", "k")

    assert again.pk == first.pk
    assert snapshot() == state
    assert balances(alice, bob) == [Decimal("90.00"), Decimal("10.00")]


@pytest.mark.parametrize("change", ["amount", "direction"])
def test_reusing_an_idempotency_key_for_a_different_movement_raises(alice, bob, change):
    move(alice, bob, "10.00", "k")
    move(bob, alice, "1.00", "other")
    state = snapshot()

    with pytest.raises(IdempotencyConflict):
        if change == "amount":
            move(alice, bob, "11.00", "k")
        else:
            move(bob, alice, "10.00", "k")

    assert snapshot() == state


def test_a_transfer_above_the_debit_balance_is_refused_and_changes_nothing(alice, bob):
    state = snapshot()

    with pytest.raises(InsufficientFunds):
        move(alice, bob, "100.01", "t")

    assert snapshot() == state
    assert not Transfer.objects.filter(idempotency_key="t").exists()


def test_an_account_can_spend_its_whole_balance(alice, bob):
    move(alice, bob, "100.00", "all")

    assert balances(alice, bob) == [Decimal("0.00"), Decimal("100.00")]


def test_a_balance_built_from_cents_can_be_spent_to_the_last_cent(alice, bob, world):
    # 0.70 in, 0.40 out leaves 0.30; binary floating point would leave 0.2999...
    move(alice, world, "100.00", "a")
    move(world, alice, "0.70", "b")
    move(alice, bob, "0.40", "c")

    move(alice, bob, "0.30", "d")

    assert balances(alice, bob) == [Decimal("0.00"), Decimal("0.70")]


def test_many_small_transfers_keep_balances_exact_to_the_cent(alice, bob):
    for i in range(30):
        move(alice, bob, "0.10", f"s{i}")

    move(bob, alice, "3.00", "back")

    assert balances(alice, bob) == [Decimal("100.00"), Decimal("0.00")]


def test_the_world_account_may_go_negative_to_issue_money(world, bob):
    transfer(debit=world, credit=bob, amount=Decimal("5.00"), kind=TransferKind.ISSUE, idempotency_key="issue")

    assert balances(world, bob) == [Decimal("-5.00"), Decimal("5.00")]


@pytest.mark.parametrize("amount", [10, 10.5, "10.00"], ids=["int", "float", "str"])
def test_an_amount_that_is_not_a_decimal_is_refused(alice, bob, amount):
    state = snapshot()

    with pytest.raises(TypeError):
        transfer(debit=alice, credit=bob, amount=amount, kind=TransferKind.ADJUSTMENT, idempotency_key="t")

    assert snapshot() == state


@pytest.mark.parametrize("amount", ["0.001", "1.005", "0", "0.00", "-1.00"])
def test_an_amount_with_more_than_two_decimals_or_not_positive_is_refused(alice, bob, amount):
    state = snapshot()

    with pytest.raises(LedgerError, match="at most 2 decimal places in USD"):
        move(alice, bob, amount, "t")

    assert snapshot() == state


def test_a_transfer_across_currencies_is_refused(alice, user):
    euros = ledger_account_open(owner=user, code="user:alice:eur", name="Alice EUR", realm=Realm.DEMO, currency="EUR")
    state = snapshot()

    with pytest.raises(LedgerError, match="one currency"):
        move(alice, euros, "1.00", "t")

    assert snapshot() == state


def test_a_transfer_across_realms_is_refused(alice, user):
    real = ledger_account_open(owner=user, code="user:alice:real", name="Alice real", realm=Realm.REAL, currency="USD")
    state = snapshot()

    with pytest.raises(LedgerError, match="one realm"):
        move(alice, real, "1.00", "t")

    assert snapshot() == state


def test_a_transfer_from_an_account_to_itself_is_refused(alice):
    state = snapshot()

    with pytest.raises(IntegrityError):
        move(alice, alice, "1.00", "t")

    assert snapshot() == state


def test_a_system_account_is_created_once_per_kind_realm_and_currency(db):
    first = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency="USD")
    again = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency="USD")
    other = system_account(kind=AccountKind.ESCROW, realm=Realm.REAL, currency="USD")

    assert first.pk == again.pk != other.pk
    assert (first.code, first.allow_negative) == ("escrow:DEMO:USD", False)
    assert system_account(kind=AccountKind.HOUSE, realm=Realm.DEMO, currency="USD").allow_negative


def test_user_accounts_are_not_opened_as_system_accounts(db):
    with pytest.raises(ValueError):
        system_account(kind=AccountKind.USER, realm=Realm.DEMO, currency="USD")
