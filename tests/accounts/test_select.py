"""Choosing the account a trader trades from."""

import pytest
from django.http import Http404

from apps.accounts.models import TradingAccount
from apps.accounts.selectors import account_for_user, accounts_for, selected_account
from apps.accounts.services import account_open_demo, account_select


@pytest.fixture
def three(user):
    return [account_open_demo(user=user, label=f"Demo {i}") for i in range(3)]


def selected_ids(user):
    return list(TradingAccount.objects.filter(user=user, is_selected=True).values_list("pk", flat=True))


def test_selecting_an_account_deselects_the_one_selected_before(user, three):
    account_select(user=user, account=three[2])

    assert selected_ids(user) == [three[2].pk]


def test_exactly_one_account_stays_selected_through_several_switches(user, three):
    for account in [three[1], three[0], three[2], three[2], three[1]]:
        returned = account_select(user=user, account=account)
        assert returned.is_selected
        assert selected_ids(user) == [account.pk]


def test_selecting_another_users_account_raises_and_changes_nothing(user, other_user, three):
    theirs = account_open_demo(user=other_user)

    with pytest.raises(PermissionError):
        account_select(user=user, account=theirs)

    assert selected_ids(user) == [three[0].pk]
    assert selected_ids(other_user) == [theirs.pk]


def test_selecting_does_not_touch_other_users_selection(user, other_user, three):
    theirs = account_open_demo(user=other_user)

    account_select(user=user, account=three[1])

    assert selected_ids(other_user) == [theirs.pk]


def test_the_selected_account_selector_follows_the_selection(user, three):
    assert selected_account(user=user) == three[0]

    account_select(user=user, account=three[1])

    assert selected_account(user=user) == three[1]


def test_a_user_without_accounts_has_no_selected_account(user):
    assert selected_account(user=user) is None


def test_accounts_for_lists_only_the_users_own_accounts_oldest_first(user, other_user, three):
    account_open_demo(user=other_user)

    assert list(accounts_for(user=user)) == three


def test_another_users_account_id_is_not_found(user, other_user):
    theirs = account_open_demo(user=other_user)

    with pytest.raises(Http404):
        account_for_user(user=user, pk=theirs.pk)
    assert account_for_user(user=other_user, pk=theirs.pk) == theirs
