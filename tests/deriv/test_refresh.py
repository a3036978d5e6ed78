"""Refresh tokens are spent one at a time: the link row is locked, re-read, and refreshed only if still needed."""

import datetime

import pytest
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.deriv import adapter, rest, services
from apps.deriv.client import DerivClient
from apps.deriv.errors import DerivAuthError, Unauthorized
from apps.deriv.models import DerivLink
from tests.support.threads import run_threads

from .support import FAST_CLIENT, authorize, deriv, exchange, link_user


def refresh(fake, refresh_token):
    return rest.refresh_tokens(client_id=fake.client_id, refresh_token=refresh_token, auth_base=fake.auth_base)


def signed_in(fake):
    verifier, _, callback = authorize(fake)
    return exchange(fake, callback["code"], verifier)


# ---------------------------------------------------------------- the fake


def test_reusing_a_refresh_token_revokes_the_whole_chain(fake_deriv):
    first = signed_in(fake_deriv)
    second = refresh(fake_deriv, first.refresh_token)
    third = refresh(fake_deriv, second.refresh_token)
    elsewhere = signed_in(fake_deriv)  # another sign-in: another chain
    assert rest.DerivRest(third.access_token, base_url=fake_deriv.rest_base).accounts()

    with pytest.raises(DerivAuthError) as reused:
        refresh(fake_deriv, first.refresh_token)
    assert reused.value.code == "invalid_grant"
    # The reused token, and everything issued from it since, are dead.
    for tokens in (first, second, third):
        with pytest.raises(Unauthorized):
            rest.DerivRest(tokens.access_token, base_url=fake_deriv.rest_base).accounts()
    with pytest.raises(DerivAuthError):
        refresh(fake_deriv, third.refresh_token)
    # The other chain lives on.
    assert rest.DerivRest(elsewhere.access_token, base_url=fake_deriv.rest_base).accounts()
    assert refresh(fake_deriv, elsewhere.refresh_token).access_token


# ---------------------------------------------------------------- ours


def test_a_token_about_to_expire_is_refreshed_before_use(user, demo_account, deriv_on):
    tokens = signed_in(deriv_on)
    link = link_user(user, deriv_on, token=tokens.access_token, refresh_token=tokens.refresh_token)
    DerivLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() + datetime.timedelta(seconds=30))
    before = deriv_on.rest_calls()

    services.deriv_accounts_sync(user=user)

    link.refresh_from_db()
    assert deriv_on.token_refreshes() == 1
    assert deriv_on.rest_calls() == before + 1  # no call was refused first
    assert link.access_token != tokens.access_token and link.refresh_token != tokens.refresh_token
    assert link.expires_at > timezone.now() + datetime.timedelta(minutes=50)
    services.deriv_accounts_sync(user=user)
    assert deriv_on.token_refreshes() == 1  # fresh now: no second refresh


@pytest.mark.dbsensitive
@pytest.mark.parametrize("why", ["refused", "expiring"])
def test_two_sockets_of_one_trader_reconnecting_at_once_refresh_once(transactional_db, user, deriv_on, why):
    tokens = signed_in(deriv_on)
    link_user(user, deriv_on, token=tokens.access_token, refresh_token=tokens.refresh_token)
    accounts = [deriv(user, AccountType.DERIV_DEMO).external_id, deriv(user, AccountType.DERIV_REAL).external_id]
    if why == "refused":
        deriv_on.expire_token(tokens.access_token)  # Deriv says 401; we did not know when it expires
    else:
        DerivLink.objects.filter(user=user).update(expires_at=timezone.now() + datetime.timedelta(seconds=5))
    # Both sockets hold the link as it was before either reconnects: both see the old token.
    links = [DerivLink.objects.get(user=user) for _ in accounts]
    clients = []

    def reconnect(i):
        def otp_url():
            return services.deriv_call(link=links[i], call=lambda api: api.otp_url(accounts[i]))

        client = DerivClient(url_provider=otp_url, name=f"socket-{i}", **FAST_CLIENT)
        clients.append(client)
        return client.connect()

    try:
        results, exceptions = run_threads(2, reconnect)
        assert exceptions == []
        assert deriv_on.token_refreshes() == 1
        for client in results:  # both authenticated: each reads its account's balance
            assert client.connected and client.call(adapter.balance_request(subscribe=False))["balance"]
        link = DerivLink.objects.get(user=user)
        assert link.is_connected and link.access_token != tokens.access_token
        assert {links[0].access_token, links[1].access_token} == {link.access_token}
        services.deriv_accounts_sync(user=user)  # the chain was not revoked: the stored tokens work
    finally:
        for client in clients:
            client.close()
