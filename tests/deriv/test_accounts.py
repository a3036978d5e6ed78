"""Deriv accounts in Nexus: sync, ledger mirror, Refresh, Reset demo, and Deriv's refusals, against the fake."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.models import AccountType
from apps.deriv import budget, crypto, services
from apps.deriv.errors import DerivAuthError, Forbidden, RateLimit
from apps.deriv.models import Connection, DerivAccount, DerivLink
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind

from .support import authorize, deriv, exchange, link_user


@pytest.fixture
def linked(user, demo_account, deriv_on):
    link_user(user, deriv_on)
    return user


# ---------------------------------------------------------------- accounts and the ledger


def test_deriv_accounts_get_their_own_ledger_accounts_in_their_own_books(linked, deriv_on):
    demo, real = deriv(linked, AccountType.DERIV_DEMO), deriv(linked, AccountType.DERIV_REAL)
    assert (demo.external_id, demo.label, demo.currency) == (deriv_on.account_id("demo"),) * 2 + ("USD",)
    assert real.external_id == deriv_on.account_id("real")
    assert demo.ledger_account.realm == Realm.DERIV_DEMO and real.ledger_account.realm == Realm.REAL
    assert demo.balance == Decimal("10000.00") and real.balance == Decimal("1000.00")
    assert demo.deriv.status == "active" and demo.deriv.connection == Connection.CONNECTED
    assert demo.deriv.balance_source == "test"
    # Each balance came from the realm's Deriv world account as one adjustment.
    for account in (demo, real):
        (made,) = Transfer.objects.filter(credit=account.ledger_account)
        assert made.kind == TransferKind.ADJUSTMENT and made.amount == account.balance
        assert made.debit.kind == AccountKind.DERIV and made.debit.realm == account.ledger_account.realm


def test_a_sync_writes_one_transfer_for_the_difference_and_nothing_when_equal(linked, deriv_on):
    real = deriv(linked, AccountType.DERIV_REAL)
    deriv_on.set_balance(real.external_id, "975.25")
    services.deriv_accounts_sync(user=linked)
    real.ledger_account.refresh_from_db()
    assert real.ledger_account.balance == Decimal("975.25")
    last = Transfer.objects.filter(debit=real.ledger_account).get()
    assert last.amount == Decimal("24.75") and last.kind == TransferKind.ADJUSTMENT
    count = Transfer.objects.count()
    services.deriv_accounts_sync(user=linked)
    assert Transfer.objects.count() == count


def test_deriv_balance_apply_mirrors_any_balance_and_rounds_down_to_the_cent(linked):
    demo = deriv(linked, AccountType.DERIV_DEMO)
    services.deriv_balance_apply(account=demo, balance=Decimal("12345.678"), source="stream")
    demo.ledger_account.refresh_from_db()
    assert demo.ledger_account.balance == Decimal("12345.67")
    services.deriv_balance_apply(account=demo, balance=Decimal("0"), source="stream")
    demo.ledger_account.refresh_from_db()
    assert demo.ledger_account.balance == 0
    assert DerivAccount.objects.get(trading_account=demo).balance_source == "stream"
    world = LedgerAccount.objects.get(kind=AccountKind.DERIV, realm=Realm.DERIV_DEMO)
    assert world.balance == 0  # conserved: the world holds minus what the accounts hold


def test_deriv_balance_apply_refuses_nexus_accounts_and_negative_balances(linked, demo_account):
    with pytest.raises(ValidationError):
        services.deriv_balance_apply(account=demo_account, balance=Decimal("5"), source="stream")
    with pytest.raises(ValidationError):
        services.deriv_balance_apply(
            account=deriv(linked, AccountType.DERIV_REAL), balance=Decimal("-1"), source="stream"
        )


def test_an_account_deriv_stops_listing_turns_inactive(linked, deriv_on):
    real = deriv(linked, AccountType.DERIV_REAL)
    from apps.deriv import adapter

    link = DerivLink.objects.get(user=linked)
    demo_only = [a for a in map(adapter.parse_account, deriv_on.user_accounts()) if a.is_demo]
    services.deriv_accounts_apply(link=link, accounts=demo_only, source="test")
    real.deriv.refresh_from_db()
    assert real.deriv.status == "inactive" and real.deriv.reason == services.REASON_GONE
    assert not real.deriv.is_live


def test_the_switcher_lists_deriv_accounts_beside_the_nexus_demo_account(client, linked, deriv_on):
    client.force_login(linked)
    html = client.get(reverse("deriv:accounts")).content.decode()
    switcher = html[html.index('class="switcher"') :]
    assert "Demo account" in switcher
    assert f'{deriv_on.account_id("demo")} <span class="muted">Deriv demo</span>' in switcher
    assert f'{deriv_on.account_id("real")} <span class="muted">Deriv real</span>' in switcher
    assert "1,000.00 USD" in switcher


# ---------------------------------------------------------------- the Deriv page


def test_refresh_pulls_balances_from_deriv(client, linked, deriv_on):
    client.force_login(linked)
    deriv_on.set_balance(deriv_on.account_id("demo"), "9876.5")
    response = client.post(reverse("deriv:refresh"), follow=True)
    assert "Updated 2 Deriv accounts from Deriv." in response.content.decode()
    assert deriv(linked, AccountType.DERIV_DEMO).balance == Decimal("9876.50")


def test_reset_a_deriv_demo_account_at_deriv_then_resync(client, linked, deriv_on):
    demo = deriv(linked, AccountType.DERIV_DEMO)
    deriv_on.set_balance(demo.external_id, "12.34")
    services.deriv_accounts_sync(user=linked)
    client.force_login(linked)
    assert "Reset demo balance at Deriv" in client.get(reverse("deriv:accounts")).content.decode()
    response = client.post(reverse("deriv:reset", args=[demo.pk]), follow=True)
    assert "reset at Deriv: 10,000.00 USD" in response.content.decode()
    assert deriv_on.balance(demo.external_id) == Decimal("10000")
    assert deriv(linked, AccountType.DERIV_DEMO).balance == Decimal("10000.00")


def test_reset_refuses_real_and_nexus_accounts_and_hides_other_traders_accounts(
    client, linked, demo_account, other_user
):
    client.force_login(linked)
    real = deriv(linked, AccountType.DERIV_REAL)
    response = client.post(reverse("deriv:reset", args=[real.pk]), follow=True)
    assert "Only Deriv demo accounts can be reset at Deriv." in response.content.decode()
    response = client.post(reverse("deriv:reset", args=[demo_account.pk]), follow=True)
    assert "Only Deriv demo accounts" in response.content.decode()
    client.force_login(other_user)
    assert client.post(reverse("deriv:reset", args=[real.pk])).status_code == 404
    assert client.get(reverse("deriv:accounts")).status_code == 200
    assert real.external_id not in client.get(reverse("deriv:accounts")).content.decode()


def test_the_deriv_pages_need_a_signed_in_trader_and_the_right_methods(client, linked):
    assert client.get(reverse("deriv:accounts")).status_code == 302
    assert client.post(reverse("deriv:refresh")).status_code == 302
    client.force_login(linked)
    assert client.get(reverse("deriv:refresh")).status_code == 405
    assert client.get(reverse("deriv:unlink")).status_code == 405


# ---------------------------------------------------------------- Deriv refusing


def test_a_token_lacking_the_trade_scope_disconnects_with_the_reason_shown(client, user, demo_account, deriv_on):
    link_user(user, deriv_on)
    services.deriv_link_store(
        user=user, access_token_encrypted=crypto.encrypt(deriv_on.issue_token(scopes=("account_manage",)))
    )
    with pytest.raises(Forbidden):
        services.deriv_accounts_sync(user=user)
    link = DerivLink.objects.get(user=user)
    assert link.connection == Connection.DISCONNECTED and link.reason == services.REASON_SCOPE
    client.force_login(user)
    html = client.get(reverse("deriv:accounts")).content.decode()
    assert "Disconnected:" in html and "not given the trade permission" in html
    assert "Link Deriv again" in html and "Reset demo balance at Deriv" not in html
    assert "· disconnected" in html[html.index('class="switcher"') :]


def test_an_expired_token_with_a_refresh_token_is_renewed_quietly(user, demo_account, deriv_on):
    verifier, _, callback = authorize(deriv_on)
    tokens = exchange(deriv_on, callback["code"], verifier)
    link = link_user(user, deriv_on, token=tokens.access_token, refresh_token=tokens.refresh_token)
    deriv_on.expire_token(tokens.access_token)
    deriv_on.set_balance(deriv_on.account_id("real"), "500")
    services.deriv_accounts_sync(user=user)
    link.refresh_from_db()
    assert link.is_connected and link.access_token != tokens.access_token
    assert link.refresh_token != tokens.refresh_token  # the fake rotates refresh tokens
    assert deriv(user, AccountType.DERIV_REAL).balance == Decimal("500.00")
    assert deriv_on.token_requests[-1]["grant_type"] == "refresh_token"


def test_an_expired_token_mid_session_disconnects_the_accounts(client, user, demo_account, deriv_on):
    token = deriv_on.issue_token()
    link_user(user, deriv_on, token=token)
    deriv_on.expire_token(token)
    client.force_login(user)
    response = client.post(reverse("deriv:refresh"), follow=True)
    assert "it expired or was revoked" in response.content.decode()
    link = DerivLink.objects.get(user=user)
    assert link.connection == Connection.DISCONNECTED and link.reason == services.REASON_EXPIRED
    states = set(DerivAccount.objects.filter(link=link).values_list("connection", "reason"))
    assert states == {(Connection.DISCONNECTED, services.REASON_EXPIRED)}


def test_a_refused_refresh_disconnects_too(user, demo_account, deriv_on):
    token = deriv_on.issue_token()
    link_user(user, deriv_on, token=token, refresh_token="ory_rt_not-a-known-refresh-token")
    deriv_on.expire_token(token)
    with pytest.raises(DerivAuthError):  # invalid_grant from the token endpoint
        services.deriv_accounts_sync(user=user)
    assert DerivLink.objects.get(user=user).reason == services.REASON_EXPIRED


def test_rest_rate_limiting_disconnects_and_sends_nothing_for_a_minute_then_recovers(
    client, linked, deriv_on, monkeypatch
):
    now = [1000.0]
    monkeypatch.setattr(budget.rest_budgets, "clock", lambda: now[0])
    deriv_on.fail_next("accounts", "TooManyRequests", status=429)
    with pytest.raises(RateLimit):
        services.deriv_accounts_sync(user=linked)
    link = DerivLink.objects.get(user=linked)
    assert link.connection == Connection.DISCONNECTED and link.reason == services.REASON_RATE
    client.force_login(linked)
    assert "limiting requests" in client.get(reverse("deriv:accounts")).content.decode()

    sent = deriv_on.rest_calls()
    now[0] += 59
    with pytest.raises(RateLimit):  # cooling off: refused here, never sent
        services.deriv_accounts_sync(user=linked)
    assert deriv_on.rest_calls() == sent

    now[0] += 1
    services.deriv_accounts_sync(user=linked)
    assert deriv_on.rest_calls() == sent + 1
    link.refresh_from_db()
    assert link.is_connected and not link.reason
    assert not DerivAccount.objects.filter(link=link).exclude(connection=Connection.CONNECTED).exists()


def test_deriv_unreachable_disconnects_with_its_reason(linked, settings):
    settings.DERIV = {**settings.DERIV, "REST_BASE": "http://127.0.0.1:9"}
    from apps.deriv.errors import DerivTransportError

    with pytest.raises(DerivTransportError):
        services.deriv_accounts_sync(user=linked)
    assert DerivLink.objects.get(user=linked).reason == services.REASON_DOWN
