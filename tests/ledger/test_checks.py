"""`ledger_breaches()` and `manage.py ledger_check`: the money invariants, checked on demand."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from apps.ledger.checks import ledger_breaches
from apps.ledger.models import LedgerAccount


@pytest.fixture
def tampered(demo_account):
    """A user balance raised by one cent behind the ledger's back, put back after the test."""
    account = demo_account.ledger_account
    LedgerAccount.objects.filter(pk=account.pk).update(balance=F("balance") + Decimal("0.01"))
    yield account
    LedgerAccount.objects.filter(pk=account.pk).update(balance=F("balance") - Decimal("0.01"))


def test_a_clean_ledger_has_no_breaches(demo_account):
    assert ledger_breaches() == []


def test_a_tampered_cached_balance_is_a_breach(tampered):
    breaches = ledger_breaches()

    assert any(f"account {tampered.code}: cached balance 10000.01 != sum of entries 10000.00" in b for b in breaches)


def test_a_tampered_balance_also_breaks_conservation_of_money(tampered):
    assert "DEMO USD is not conserved: balances sum to 0.01" in ledger_breaches()


def test_ledger_check_exits_non_zero_on_a_breach(tampered):
    err = StringIO()

    with pytest.raises(CommandError, match="breach"):
        call_command("ledger_check", stdout=StringIO(), stderr=err)

    assert f"BREACH: account {tampered.code}" in err.getvalue()


def test_ledger_check_exits_zero_on_a_clean_ledger(demo_account):
    out = StringIO()

    call_command("ledger_check", stdout=out, stderr=StringIO())

    assert "Ledger OK" in out.getvalue()


def test_ledger_check_passes_again_once_the_balance_is_restored(demo_account):
    account = demo_account.ledger_account
    LedgerAccount.objects.filter(pk=account.pk).update(balance=Decimal("1.00"))
    assert ledger_breaches()

    LedgerAccount.objects.filter(pk=account.pk).update(balance=Decimal("10000.00"))

    assert ledger_breaches() == []
    call_command("ledger_check", stdout=StringIO(), stderr=StringIO())


def test_an_empty_ledger_is_clean(db):
    assert ledger_breaches() == []
    call_command("ledger_check", stdout=StringIO(), stderr=StringIO())
