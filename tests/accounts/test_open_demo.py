"""Opening a Nexus demo account."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import AccountType
from apps.accounts.services import MAX_DEMO_ACCOUNTS, account_open_demo
from apps.audit.models import AuditEvent
from apps.ledger.models import AccountKind, Realm, Transfer, TransferKind


def test_a_new_demo_account_holds_ten_thousand(demo_account):
    assert demo_account.balance == Decimal("10000.00")
    assert (demo_account.type, demo_account.currency, demo_account.is_demo) == (AccountType.DEMO, "USD", True)


def test_the_demo_balance_arrives_through_one_issue_transfer_from_the_demo_world(demo_account):
    transfers = Transfer.objects.filter(credit=demo_account.ledger_account)

    assert transfers.count() == 1
    issue = transfers.get()
    assert (issue.kind, issue.amount, issue.reference) == (
        TransferKind.ISSUE,
        Decimal("10000.00"),
        f"account:{demo_account.pk}",
    )
    assert issue.idempotency_key == f"demo-open:{demo_account.pk}"
    assert (issue.debit.kind, issue.debit.realm, issue.debit.currency) == (AccountKind.WORLD, Realm.DEMO, "USD")


def test_a_demo_account_has_its_own_user_ledger_account_in_the_demo_realm(demo_account, user):
    ledger_account = demo_account.ledger_account

    assert (ledger_account.kind, ledger_account.realm, ledger_account.owner) == (AccountKind.USER, Realm.DEMO, user)
    assert not ledger_account.allow_negative


def test_the_first_account_is_selected_and_later_ones_are_not(user):
    first = account_open_demo(user=user)
    second = account_open_demo(user=user, label="Practice")

    assert first.is_selected
    assert not second.is_selected
    assert second.label == "Practice"
    assert second.balance == Decimal("10000.00")


def test_each_demo_account_is_funded_separately(user):
    first = account_open_demo(user=user)
    second = account_open_demo(user=user, label="Second")

    assert first.ledger_account_id != second.ledger_account_id
    assert Transfer.objects.filter(kind=TransferKind.ISSUE).count() == 2


def test_opening_a_demo_account_is_audited(demo_account, user):
    event = AuditEvent.objects.get(action="account.open_demo")

    assert (event.actor, event.target_type, event.target_id) == (user, "accounts.tradingaccount", str(demo_account.pk))


def test_the_demo_balance_comes_from_settings(user, settings):
    settings.NEXUS = {**settings.NEXUS, "DEMO_BALANCE": "2500.00"}

    assert account_open_demo(user=user).balance == Decimal("2500.00")


def test_a_user_holds_at_most_the_maximum_of_demo_accounts(user):
    for _ in range(MAX_DEMO_ACCOUNTS):
        account_open_demo(user=user)

    with pytest.raises(ValidationError) as error:
        account_open_demo(user=user)

    assert error.value.messages == [f"You can hold at most {MAX_DEMO_ACCOUNTS} demo accounts."]
    assert user.trading_accounts.count() == MAX_DEMO_ACCOUNTS
    assert Transfer.objects.filter(kind=TransferKind.ISSUE, credit__owner=user).count() == MAX_DEMO_ACCOUNTS


def test_the_maximum_is_per_user(user, other_user):
    for _ in range(MAX_DEMO_ACCOUNTS):
        account_open_demo(user=user)

    assert account_open_demo(user=other_user).balance == Decimal("10000.00")
