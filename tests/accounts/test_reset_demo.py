"""Resetting a demo account to the demo balance."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from apps.accounts.models import AccountType, TradingAccount
from apps.accounts.services import account_open_demo, account_reset_demo
from apps.audit.models import AuditEvent
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import ledger_account_open, system_account, transfer


def adjust(account, amount: str, key: str):
    """Move money into (positive) or out of (negative) a trading account, as trading would."""
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    value = Decimal(amount)
    debit, credit = (world, account.ledger_account) if value > 0 else (account.ledger_account, world)
    transfer(debit=debit, credit=credit, amount=abs(value), kind=TransferKind.ADJUSTMENT, idempotency_key=key)


def balance(account):
    return LedgerAccount.objects.get(pk=account.ledger_account_id).balance


def resets(account):
    return Transfer.objects.filter(kind=TransferKind.RESET, reference=f"account:{account.pk}")


def test_a_reset_from_below_tops_the_balance_up_to_ten_thousand(user, demo_account):
    adjust(demo_account, "-1234.56", "spend")

    account_reset_demo(user=user, account=demo_account)

    assert balance(demo_account) == Decimal("10000.00")
    reset = resets(demo_account).get()
    assert (reset.amount, reset.debit.kind, reset.credit_id) == (
        Decimal("1234.56"),
        AccountKind.WORLD,
        demo_account.ledger_account_id,
    )


def test_a_reset_from_above_takes_the_excess_back(user, demo_account):
    adjust(demo_account, "456.78", "winnings")

    account_reset_demo(user=user, account=demo_account)

    assert balance(demo_account) == Decimal("10000.00")
    reset = resets(demo_account).get()
    assert (reset.amount, reset.debit_id, reset.credit.kind) == (
        Decimal("456.78"),
        demo_account.ledger_account_id,
        AccountKind.WORLD,
    )


def test_a_reset_at_exactly_ten_thousand_writes_no_transfer(user, demo_account):
    before = Transfer.objects.count()

    account_reset_demo(user=user, account=demo_account)

    assert balance(demo_account) == Decimal("10000.00")
    assert Transfer.objects.count() == before


def test_a_reset_from_zero_restores_the_full_balance(user, demo_account):
    adjust(demo_account, "-10000.00", "everything")

    account_reset_demo(user=user, account=demo_account)

    assert balance(demo_account) == Decimal("10000.00")


@pytest.mark.parametrize(
    ("change", "before"), [("-0.01", "9999.99"), ("0.01", "10000.01"), (None, "10000.00")], ids=["below", "above", "at"]
)
def test_every_reset_is_audited_with_the_balance_before_and_after(user, demo_account, change, before):
    if change:
        adjust(demo_account, change, "change")
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")

    account_reset_demo(user=user, account=demo_account, request=request)

    event = AuditEvent.objects.get(action="account.reset_demo")
    assert (event.actor, event.target_id, event.ip) == (user, str(demo_account.pk), "203.0.113.7")
    assert event.data == {"balance_before": before, "balance_after": "10000.00"}


def test_the_returned_account_shows_the_new_balance(user, demo_account):
    adjust(demo_account, "-99.99", "spend")

    account = account_reset_demo(user=user, account=demo_account)

    assert account.balance == Decimal("10000.00")


def test_two_resets_in_a_row_write_one_transfer(user, demo_account):
    adjust(demo_account, "-5.00", "spend")

    account_reset_demo(user=user, account=demo_account)
    account_reset_demo(user=user, account=demo_account)

    assert resets(demo_account).count() == 1
    assert AuditEvent.objects.filter(action="account.reset_demo").count() == 2


def test_resetting_another_users_account_raises_and_changes_nothing(user, other_user):
    theirs = account_open_demo(user=other_user)
    adjust(theirs, "-100.00", "spend")

    with pytest.raises(PermissionError):
        account_reset_demo(user=user, account=theirs)

    assert balance(theirs) == Decimal("9900.00")
    assert not resets(theirs).exists()
    assert not AuditEvent.objects.filter(action="account.reset_demo").exists()


def test_only_demo_accounts_can_be_reset(user):
    ledger_account = ledger_account_open(owner=user, code="user:deriv", name="Deriv", realm=Realm.REAL, currency="USD")
    deriv = TradingAccount.objects.create(
        user=user, type=AccountType.DERIV_REAL, label="Deriv real", ledger_account=ledger_account
    )

    with pytest.raises(ValidationError, match="Only demo accounts"):
        account_reset_demo(user=user, account=deriv)

    assert balance(deriv) == Decimal("0.00")
    assert not Transfer.objects.filter(kind=TransferKind.RESET).exists()


def test_a_reset_leaves_open_stakes_in_escrow(user, demo_account, feed, markets):
    from apps.trading.services import contract_buy

    contract_buy(
        user=user,
        account=demo_account,
        market=markets["OTC_GOLD"],
        direction="RISE",
        stake=Decimal("250.00"),
        duration=5,
        duration_unit="t",
        idempotency_key="open-one",
    )

    account_reset_demo(user=user, account=demo_account)

    assert balance(demo_account) == Decimal("10000.00")
    escrow = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency="USD")
    assert LedgerAccount.objects.get(pk=escrow.pk).balance == Decimal("250.00")
