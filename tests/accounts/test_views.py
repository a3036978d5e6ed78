import re
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


def test_the_header_shows_the_active_account_and_balance(trader, demo_account, feed):
    body = trader.get(reverse("trading:trade")).content.decode()
    assert "Demo account" in body
    assert "10,000.00" in body


def test_reset_restores_the_demo_balance_and_is_audited(trader, demo_account):
    from apps.ledger.models import TransferKind
    from apps.ledger.services import system_account, transfer

    world = system_account(kind="WORLD", realm="DEMO", currency="USD")
    transfer(
        debit=demo_account.ledger_account,
        credit=world,
        amount=Decimal("1234.56"),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="spend",
    )
    response = trader.post(reverse("accounts:reset", args=[demo_account.pk]))
    assert response.status_code == 302
    demo_account.ledger_account.refresh_from_db()
    assert demo_account.ledger_account.balance == Decimal("10000.00")
    assert AuditEvent.objects.filter(action="account.reset_demo", target_id=str(demo_account.pk)).exists()


def test_the_switcher_shows_the_demo_balance_from_settings(trader, demo_account, feed, settings):
    settings.NEXUS = {**settings.NEXUS, "DEMO_BALANCE": "2500.00"}

    body = trader.get(reverse("trading:trade")).content.decode()

    assert "Reset demo balance to 2,500.00" in body
    assert "Open another demo account with 2,500.00 USD" in body


def test_the_home_page_offers_the_demo_balance_from_settings(client, db, settings):
    settings.NEXUS = {**settings.NEXUS, "DEMO_BALANCE": "2500.00"}

    assert "with 2,500.00 USD of virtual money" in client.get(reverse("dashboard:home")).content.decode()


def test_opening_past_the_maximum_shows_the_services_message(trader, demo_account):
    from apps.accounts.services import MAX_DEMO_ACCOUNTS

    for _ in range(MAX_DEMO_ACCOUNTS - 1):
        trader.post(reverse("accounts:open_demo"))

    response = trader.post(reverse("accounts:open_demo"), {"next": reverse("trading:history")}, follow=True)

    assert f"You can hold at most {MAX_DEMO_ACCOUNTS} demo accounts." in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("trading:history")
    assert demo_account.user.trading_accounts.count() == MAX_DEMO_ACCOUNTS


def test_opening_and_switching_accounts(trader, demo_account):
    trader.post(reverse("accounts:open_demo"))
    accounts = list(demo_account.user.trading_accounts.order_by("id"))
    assert len(accounts) == 2
    assert accounts[1].is_selected and not accounts[0].is_selected
    trader.post(reverse("accounts:select", args=[accounts[0].pk]))
    accounts[0].refresh_from_db()
    accounts[1].refresh_from_db()
    assert accounts[0].is_selected and not accounts[1].is_selected


@pytest.mark.parametrize("name", ["accounts:reset", "accounts:select"])
def test_another_users_account_is_404(trader, other_user, name):
    from apps.accounts.services import account_open_demo

    theirs = account_open_demo(user=other_user)
    assert trader.post(reverse(name, args=[theirs.pk])).status_code == 404
    theirs.ledger_account.refresh_from_db()
    assert theirs.ledger_account.balance == Decimal("10000.00")


@pytest.mark.parametrize("name", ["accounts:reset", "accounts:select"])
def test_get_on_a_state_changing_url_is_405(trader, demo_account, name):
    assert trader.get(reverse(name, args=[demo_account.pk])).status_code == 405


def test_get_on_open_demo_is_405(trader):
    assert trader.get(reverse("accounts:open_demo")).status_code == 405


def test_reset_and_open_messages_group_thousands_as_the_header_does(trader, demo_account):
    def shown(response) -> str:
        # What a reader sees: the page's JSON data (the dashboard's charts) is not shown text.
        return re.sub(r'<script [^>]*type="application/json">.*?</script>', "", response.content.decode(), flags=re.S)

    reset = shown(trader.post(reverse("accounts:reset", args=[demo_account.pk]), follow=True))
    opened = shown(trader.post(reverse("accounts:open_demo"), follow=True))

    assert "is back to 10,000.00 USD." in reset and "10000.00" not in reset
    assert "with 10,000.00 USD." in opened and "10000.00" not in opened


def test_the_switcher_asks_before_a_reset_in_a_dialog_and_on_a_page(trader, demo_account, feed):
    body = trader.get(reverse("trading:history")).content.decode()
    confirm_url = reverse("accounts:reset_confirm", args=[demo_account.pk])

    # The switcher links to the confirmation page; the dialog holds the same form.
    assert f'href="{confirm_url}?next=/trade/history/"' in body
    dialog = body[body.index('<dialog id="reset-dialog"') :]
    assert f'action="{reverse("accounts:reset", args=[demo_account.pk])}"' in dialog

    page = trader.get(confirm_url, {"next": "/trade/history/"}).content.decode()
    assert "Reset Demo account?" in page or f"Reset {demo_account.label}?" in page
    assert 'name="next" value="/trade/history/"' in page
    elsewhere = trader.get(confirm_url, {"next": "https://evil.example/"}).content.decode()
    assert 'value="https://evil.example/"' not in elsewhere and 'href="https://evil.example/"' not in elsewhere


def test_only_a_demo_account_has_a_reset_confirmation(trader, other_user):
    from apps.accounts.services import account_open_demo

    theirs = account_open_demo(user=other_user)
    assert trader.get(reverse("accounts:reset_confirm", args=[theirs.pk])).status_code == 404
