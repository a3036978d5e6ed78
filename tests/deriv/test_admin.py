"""Staff never delete Deriv links or accounts in the admin: they unlink or deactivate, and history stays."""

import pytest
from django.urls import reverse

from apps.accounts.models import AccountType
from apps.audit.models import AuditEvent
from apps.deriv import services
from apps.deriv.models import Connection, DerivAccount, DerivLink
from apps.deriv.selectors import deriv_unavailable

from .support import deriv, link_user


@pytest.fixture
def linked(user, demo_account, deriv_on):
    link_user(user, deriv_on)
    return user


def act(admin_client, model: str, action: str, ids):
    url = reverse(f"admin:deriv_{model}_changelist")
    return admin_client.post(url, {"action": action, "_selected_action": list(ids)}, follow=True)


@pytest.mark.parametrize("model", ["derivlink", "derivaccount"])
def test_links_and_accounts_cannot_be_deleted_in_the_admin(admin_client, linked, model):
    obj = (DerivLink if model == "derivlink" else DerivAccount).objects.first()

    assert admin_client.get(reverse(f"admin:deriv_{model}_delete", args=[obj.pk])).status_code == 403
    assert admin_client.post(reverse(f"admin:deriv_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    response = act(admin_client, model, "delete_selected", [obj.pk])
    assert "No action selected" in response.content.decode()
    assert DerivLink.objects.count() == 1 and DerivAccount.objects.count() == 2


def test_a_deactivated_account_never_trades_again_even_after_a_sync(admin_client, admin_user, linked, deriv_on):
    demo = deriv(linked, AccountType.DERIV_DEMO)
    real = deriv(linked, AccountType.DERIV_REAL)

    response = act(admin_client, "derivaccount", "deactivate", [demo.deriv.pk])

    assert "Deactivated 1 Deriv account(s)." in response.content.decode()
    row = DerivAccount.objects.get(trading_account=demo)
    assert (row.connection, row.link, row.reason) == (Connection.UNLINKED, None, services.REASON_DEACTIVATED)
    assert row.deactivated_at is not None
    assert demo.pk in deriv_unavailable(account_ids=[demo.pk])
    assert real.pk not in deriv_unavailable(account_ids=[real.pk])
    # Deriv still lists it: a sync (and a reconnect) leaves it dead; the other account carries on.
    services.deriv_accounts_sync(user=linked)
    services.deriv_link_reconnect(link=DerivLink.objects.get(user=linked))
    row.refresh_from_db()
    assert (row.connection, row.link) == (Connection.UNLINKED, None)
    assert DerivAccount.objects.get(trading_account=real).connection == Connection.CONNECTED
    assert AuditEvent.objects.filter(
        action="deriv.account_deactivate", actor=admin_user, target_id=str(demo.pk)
    ).exists()
    # Deactivating again changes nothing.
    assert services.deriv_accounts_deactivate(account_ids=[demo.pk], actor=admin_user) == 0


def test_staff_unlink_instead_of_deleting_a_link(admin_client, linked):
    link = DerivLink.objects.get(user=linked)

    response = act(admin_client, "derivlink", "unlink", [link.pk])

    assert "Unlinked 1 Deriv link(s)." in response.content.decode()
    assert not DerivLink.objects.exists()
    assert set(DerivAccount.objects.values_list("connection", flat=True)) == {Connection.UNLINKED}
    accounts = list(DerivAccount.objects.values_list("trading_account_id", flat=True))
    assert set(deriv_unavailable(account_ids=accounts)) == set(accounts)
