"""`transfer_many`: many transfers written as one set, inside the caller's transaction."""

from decimal import Decimal

import pytest
from django.db import transaction

from apps.ledger.models import AccountKind, Entry, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import (
    IdempotencyConflict,
    LedgerError,
    TransferSpec,
    ledger_account_open,
    system_account,
    transfer,
    transfer_many,
)


@pytest.fixture
def books(user, other_user):
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    house = system_account(kind=AccountKind.HOUSE, realm=Realm.DEMO, currency="USD")
    alice = ledger_account_open(owner=user, code="user:alice", name="Alice", realm=Realm.DEMO, currency="USD")
    bob = ledger_account_open(owner=other_user, code="user:bob", name="Bob", realm=Realm.DEMO, currency="USD")
    transfer(debit=world, credit=alice, amount=Decimal("50.00"), kind=TransferKind.ISSUE, idempotency_key="fund")
    return {"world": world, "house": house, "alice": alice, "bob": bob}


def spec(debit, credit, amount, key):
    return TransferSpec(debit.pk, credit.pk, Decimal(amount), TransferKind.ADJUSTMENT, key, f"ref:{key}")


def balance(account):
    return LedgerAccount.objects.get(pk=account.pk).balance


def snapshot():
    return (Transfer.objects.count(), Entry.objects.count(), list(LedgerAccount.objects.values_list("pk", "balance")))


def test_a_batch_writes_every_transfer_with_two_entries_each(books):
    alice, bob, house = books["alice"], books["bob"], books["house"]

    with transaction.atomic():
        written = transfer_many(
            [
                spec(alice, bob, "10.00", "b1"),
                spec(alice, house, "5.50", "b2"),
                spec(house, bob, "2.25", "b3"),
            ]
        )

    assert [t.idempotency_key for t in written] == ["b1", "b2", "b3"]
    assert all(t.pk for t in written)
    for t in Transfer.objects.filter(idempotency_key__in=["b1", "b2", "b3"]):
        entries = sorted(t.entries.values_list("account_id", "amount"), key=lambda e: e[1])
        assert entries == [(t.debit_id, -t.amount), (t.credit_id, t.amount)]
        assert t.reference == f"ref:{t.idempotency_key}"


def test_a_batch_updates_each_balance_by_its_net_movement(books):
    alice, bob, house = books["alice"], books["bob"], books["house"]

    with transaction.atomic():
        transfer_many(
            [
                spec(alice, bob, "10.00", "b1"),
                spec(alice, house, "5.50", "b2"),
                spec(house, bob, "2.25", "b3"),
                spec(bob, alice, "0.10", "b4"),
            ]
        )

    assert balance(alice) == Decimal("34.60")
    assert balance(bob) == Decimal("12.15")
    assert balance(house) == Decimal("3.25")


def test_an_empty_batch_writes_nothing(books):
    state = snapshot()

    with transaction.atomic():
        assert transfer_many([]) == []

    assert snapshot() == state


def test_a_batch_with_a_key_already_used_rolls_back_whole(books):
    alice, bob = books["alice"], books["bob"]
    transfer(debit=alice, credit=bob, amount=Decimal("1.00"), kind=TransferKind.ADJUSTMENT, idempotency_key="used")
    state = snapshot()

    with pytest.raises(IdempotencyConflict), transaction.atomic():
        transfer_many([spec(alice, bob, "2.00", "fresh"), spec(alice, bob, "1.00", "used")])

    assert snapshot() == state
    assert not Transfer.objects.filter(idempotency_key="fresh").exists()


def test_a_batch_repeating_a_key_within_itself_rolls_back_whole(books):
    alice, bob = books["alice"], books["bob"]
    state = snapshot()

    with pytest.raises(IdempotencyConflict), transaction.atomic():
        transfer_many([spec(alice, bob, "2.00", "twice"), spec(alice, bob, "2.00", "twice")])

    assert snapshot() == state


def test_a_batch_that_would_take_a_user_below_zero_rolls_back_whole(books):
    alice, bob = books["alice"], books["bob"]
    state = snapshot()

    with pytest.raises(LedgerError, match="below zero"), transaction.atomic():
        transfer_many([spec(bob, alice, "1.00", "b1"), spec(alice, bob, "60.00", "b2")])

    assert snapshot() == state


def test_a_batch_may_spend_what_it_also_receives(books):
    alice, bob = books["alice"], books["bob"]

    with transaction.atomic():
        # Alice holds 50.00 and pays 60.00, covered by the 10.00 Bob pays her in the same batch.
        transfer_many([spec(alice, bob, "60.00", "b1"), spec(bob, alice, "10.00", "b2")])

    assert (balance(alice), balance(bob)) == (Decimal("0.00"), Decimal("50.00"))


@pytest.mark.parametrize("amount", ["0.001", "0", "-1.00"])
def test_a_batch_with_an_invalid_amount_is_refused(books, amount):
    alice, bob = books["alice"], books["bob"]
    state = snapshot()

    with pytest.raises(LedgerError), transaction.atomic():
        transfer_many([spec(alice, bob, "1.00", "ok"), spec(alice, bob, amount, "bad")])

    assert snapshot() == state


def test_a_batch_crossing_realms_is_refused(books, user):
    real = ledger_account_open(owner=user, code="user:alice:real", name="Alice real", realm=Realm.REAL, currency="USD")
    state = snapshot()

    with pytest.raises(LedgerError, match="one realm"), transaction.atomic():
        transfer_many([spec(books["alice"], real, "1.00", "x")])

    assert snapshot() == state


def test_a_batch_of_many_small_amounts_keeps_balances_exact(books):
    alice, bob = books["alice"], books["bob"]

    with transaction.atomic():
        transfer_many([spec(alice, bob, "0.10", f"to{i}") for i in range(30)])
    with transaction.atomic():
        transfer_many([spec(bob, alice, "0.30", f"back{i}") for i in range(10)])

    assert (balance(alice), balance(bob)) == (Decimal("50.00"), Decimal("0.00"))


@pytest.mark.django_db(transaction=True)
def test_a_batch_outside_a_transaction_is_refused(books):
    state = snapshot()

    with pytest.raises(LedgerError, match="inside a transaction"):
        transfer_many([spec(books["alice"], books["bob"], "1.00", "x")])

    assert snapshot() == state
