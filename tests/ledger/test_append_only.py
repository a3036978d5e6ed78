"""Transfers and entries are written once: corrections are new transfers, never edits."""

from decimal import Decimal

import pytest
from django.db import transaction

from apps.ledger.models import Entry, Transfer, TransferKind
from apps.ledger.services import system_account, transfer


@pytest.fixture
def written(demo_account):
    """The ISSUE transfer that funded the demo account, and its entries."""
    return Transfer.objects.get(kind=TransferKind.ISSUE, credit=demo_account.ledger_account)


def test_saving_an_existing_transfer_again_raises(written):
    written.amount = Decimal("1.00")

    with pytest.raises(TypeError, match="append-only"):
        written.save()

    assert Transfer.objects.get(pk=written.pk).amount == Decimal("10000.00")


def test_deleting_a_transfer_raises(written):
    with pytest.raises(TypeError, match="append-only"):
        written.delete()

    assert Transfer.objects.filter(pk=written.pk).exists()


def test_updating_transfers_through_a_queryset_raises(written):
    with pytest.raises(TypeError, match="append-only"):
        Transfer.objects.filter(pk=written.pk).update(amount=Decimal("1.00"))
    with pytest.raises(TypeError, match="append-only"):
        Transfer.objects.update(reference="changed")

    assert Transfer.objects.get(pk=written.pk).amount == Decimal("10000.00")


def test_deleting_transfers_through_a_queryset_raises(written):
    with pytest.raises(TypeError, match="append-only"):
        Transfer.objects.all().delete()

    assert Transfer.objects.filter(pk=written.pk).exists()


def test_bulk_updating_transfers_raises(written):
    written.reference = "changed"

    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        Transfer.objects.bulk_update([written], ["reference"])

    assert Transfer.objects.get(pk=written.pk).reference != "changed"


def test_saving_an_existing_entry_again_raises(written):
    entry = written.entries.first()
    entry.amount = Decimal("0.01")

    with pytest.raises(TypeError, match="append-only"):
        entry.save()


def test_deleting_an_entry_raises(written):
    entry = written.entries.first()

    with pytest.raises(TypeError, match="append-only"):
        entry.delete()

    assert written.entries.count() == 2


def test_updating_or_deleting_entries_through_a_queryset_raises(written):
    with pytest.raises(TypeError, match="append-only"):
        Entry.objects.filter(transfer=written).update(amount=Decimal("0.01"))
    with pytest.raises(TypeError, match="append-only"):
        Entry.objects.filter(transfer=written).delete()

    assert sorted(written.entries.values_list("amount", flat=True)) == [Decimal("-10000.00"), Decimal("10000.00")]


def test_a_correction_is_a_new_transfer_in_the_opposite_direction(demo_account):
    world = system_account(kind="WORLD", realm="DEMO", currency="USD")
    account = demo_account.ledger_account
    transfer(debit=world, credit=account, amount=Decimal("5.00"), kind=TransferKind.ADJUSTMENT, idempotency_key="oops")

    transfer(debit=account, credit=world, amount=Decimal("5.00"), kind=TransferKind.ADJUSTMENT, idempotency_key="fix")

    account.refresh_from_db()
    assert account.balance == Decimal("10000.00")
    assert Transfer.objects.filter(kind=TransferKind.ADJUSTMENT).count() == 2
