"""'Continue with Deriv' and 'Link Deriv account' through allauth, against the fake Deriv."""

import base64
import hashlib
import json
import re
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.internal import statekit
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core import mail
from django.urls import reverse

from apps.accounts.models import AccountType, TradingAccount
from apps.deriv import services, signals
from apps.deriv.models import Connection, DerivAccount, DerivLink
from apps.users.models import User

PASSWORD = "correct horse battery staple"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def start(client, *, process="login", intent=None, next_url=None) -> str:
    """Press the Deriv button: the authorize URL Nexus sends the browser to."""
    data = {"process": process}
    if intent:
        data["intent"] = intent
    if next_url:
        data["next"] = next_url
    response = client.post(reverse("deriv_login"), data)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def at_deriv(url: str) -> dict:
    """The browser at Deriv's authorize page: where Deriv sends it back (the callback query)."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.build_opener(_NoRedirect).open(url)
    assert caught.value.code == 302
    location = caught.value.headers["Location"]
    assert urlsplit(location).path == reverse("deriv_callback")
    return query(location)


def callback(client, params: dict):
    return client.get(reverse("deriv_callback"), params)


def sign_in(client, **kwargs):
    """The whole round trip: button, Deriv, callback. Returns the callback's response."""
    return callback(client, at_deriv(start(client, **kwargs)))


def complete_sign_up(client, email="deriv.trader@example.com"):
    """The form a first Deriv sign-in shows (Deriv tells no email), then the emailed link."""
    response = client.post(reverse("socialaccount_signup"), {"email": email})
    assert response.status_code == 302, response.content.decode()[:2000]
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mail.outbox[-1].body).group(1)
    client.post(link)
    return User.objects.get(email=email)


def deriv_user(client, fake, email="deriv.trader@example.com"):
    """A trader who signed up with Deriv (the fake's default user) and verified the email."""
    response = sign_in(client)
    assert response["Location"] == reverse("socialaccount_signup")
    return complete_sign_up(client, email)


# ---------------------------------------------------------------- the authorize request


def test_continue_with_deriv_is_on_the_sign_in_and_sign_up_pages(client, deriv_on):
    login = client.get(reverse("account_login")).content.decode()
    assert "Continue with Deriv" in login and 'name="intent"' not in login
    signup = client.get(reverse("account_signup")).content.decode()
    assert "Continue with Deriv" in signup and 'name="intent" value="signup"' in signup


def test_the_button_is_hidden_and_the_views_404_while_deriv_is_disabled(client, db, settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": False}
    settings.SOCIALACCOUNT_PROVIDERS = {"deriv": {**settings.SOCIALACCOUNT_PROVIDERS["deriv"], "APPS": []}}
    assert "Continue with Deriv" not in client.get(reverse("account_login")).content.decode()
    assert client.post(reverse("deriv_login"), {"process": "login"}).status_code == 404
    assert client.get(reverse("deriv_callback"), {"code": "c", "state": "s"}).status_code == 404


def test_sign_in_asks_for_a_code_with_pkce_s256_and_a_state_kept_in_the_session(client, deriv_on):
    url = start(client)
    parts, params = urlsplit(url), query(url)
    assert f"{parts.scheme}://{parts.netloc}" == deriv_on.auth_base and parts.path == "/oauth2/auth"
    assert params["response_type"] == "code" and params["client_id"] == deriv_on.client_id
    assert params["redirect_uri"] == "http://testserver" + reverse("deriv_callback")
    assert set(params["scope"].split()) == {"trade", "account_manage"}
    assert params["code_challenge_method"] == "S256"
    assert "prompt" not in params and "utm_source" not in params
    # The state names a per-attempt entry of this session, holding the verifier behind the challenge.
    stashed, _, provider = client.session[statekit.STATES_SESSION_KEY][params["state"]]
    assert provider == "deriv"
    digest = hashlib.sha256(stashed["pkce_code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"]  # S256
    # A second attempt gets its own state and verifier.
    again = query(start(client))
    assert again["state"] != params["state"] and again["code_challenge"] != params["code_challenge"]


def test_the_sign_up_button_asks_deriv_for_its_sign_up_form_with_the_partner_attribution(client, deriv_on, settings):
    settings.DERIV = {
        **settings.DERIV,
        "PARTNER_PARAMS": {"utm_source": "dangote_fx", "utm_medium": "affiliate", "affiliate_token": "dangote_fx"},
    }
    params = query(start(client, intent="signup"))
    assert params["prompt"] == "registration"
    assert params["utm_source"] == "dangote_fx" and params["affiliate_token"] == "dangote_fx"
    at_deriv(start(client, intent="signup"))
    recorded = deriv_on.authorize_requests[-1]
    assert recorded["prompt"] == "registration" and recorded["utm_medium"] == "affiliate"


def test_the_browser_cannot_add_scopes_or_authorize_parameters(client, deriv_on):
    response = client.post(
        reverse("deriv_login") + "?scope=payment&auth_params=redirect_uri%3Dhttps%3A%2F%2Fevil.example",
        {"process": "login"},
    )
    params = query(response["Location"])
    assert "payment" not in params["scope"] and params["redirect_uri"].startswith("http://testserver/")


# ---------------------------------------------------------------- signing in and linking


def test_a_first_sign_in_asks_the_email_then_links_deriv_demo_and_real_accounts(client, deriv_on):
    user = deriv_user(client, deriv_on)
    # The code was exchanged once, server side, with the verifier behind the challenge.
    (exchange,) = deriv_on.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    social = SocialAccount.objects.get(user=user, provider="deriv")
    ids = sorted(a["account_id"] for a in deriv_on.user_accounts())
    assert social.uid == ids[0] and sorted(social.extra_data["account_ids"]) == ids
    assert not SocialToken.objects.exists()
    link = DerivLink.objects.get(user=user)
    assert link.is_connected and link.social_account == social and "trade" in link.scope
    by_type = {a.type: a for a in TradingAccount.objects.filter(user=user)}
    assert set(by_type) == {AccountType.DEMO, AccountType.DERIV_DEMO, AccountType.DERIV_REAL}
    assert by_type[AccountType.DERIV_DEMO].balance == Decimal("10000.00")
    assert by_type[AccountType.DERIV_REAL].balance == Decimal("1000.00")
    assert by_type[AccountType.DERIV_DEMO].external_id == deriv_on.account_id("demo")
    assert by_type[AccountType.DEMO].is_selected
    # Signed in once the email is verified; the switcher lists the Deriv accounts with their balances.
    page = client.get(reverse("trading:trade"))
    assert page.status_code == 200
    html = page.content.decode()
    for account in by_type.values():
        assert account.label in html
    assert "10,000.00" in html and "1,000.00" in html


def test_signing_in_again_goes_straight_in_and_refreshes_the_balances(client, deriv_on):
    user = deriv_user(client, deriv_on)
    client.logout()
    deriv_on.set_balance(deriv_on.account_id("real"), "1234.56")
    response = sign_in(client)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert User.objects.count() == 1 and SocialAccount.objects.count() == 1
    real = TradingAccount.objects.get(user=user, type=AccountType.DERIV_REAL)
    assert real.balance == Decimal("1234.56")


def open_account_at_deriv(fake, user_id: str, account_type: str) -> str:
    """What the trader does on Deriv's own site (Nexus never opens accounts there); the new account's id."""
    request = urllib.request.Request(
        fake.rest_base + "/trading/v1/options/accounts",
        data=json.dumps({"currency": "USD", "group": "row", "account_type": account_type}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {fake.issue_token(user_id)}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201
        return json.loads(response.read())["data"]["account_id"]


def test_a_new_deriv_account_does_not_make_a_new_identity(client, deriv_on):
    deriv_user_id = deriv_on.add_user(real_balance=None)  # a demo account only, at first
    deriv_on.login_as(deriv_user_id)
    user = deriv_user(client, deriv_on)
    client.logout()
    real_id = open_account_at_deriv(deriv_on, deriv_user_id, "real")
    assert sign_in(client).status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk
    assert TradingAccount.objects.get(user=user, type=AccountType.DERIV_REAL).external_id == real_id


def test_a_signed_in_trader_links_deriv_from_the_deriv_page(client, deriv_on, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    page = client.get(reverse("deriv:accounts")).content.decode()
    assert "Link Deriv account" in page
    response = sign_in(client, process="connect", next_url=reverse("deriv:accounts"))
    assert response.status_code == 302 and response["Location"] == reverse("deriv:accounts")
    assert DerivLink.objects.get(user=user).is_connected
    assert TradingAccount.objects.filter(user=user, type__in=services.DERIV_TYPES).count() == 2
    page = client.get(reverse("deriv:accounts")).content.decode()
    assert deriv_on.account_id("demo") in page and "Connected" in page


def test_a_deriv_identity_of_another_trader_cannot_be_linked_again(client, deriv_on, user):
    deriv_user(client, deriv_on)
    client.logout()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    response = sign_in(client, process="connect", next_url=reverse("deriv:accounts"))
    assert "already connected to a different account" in client.get(response["Location"]).content.decode()
    assert not DerivLink.objects.filter(user=user).exists()
    assert not TradingAccount.objects.filter(user=user, type__in=services.DERIV_TYPES).exists()


# ---------------------------------------------------------------- bad input and refusals


def refused(client, response) -> str:
    """A refused sign-in goes back to the sign-in page (off the callback URL) with the reason."""
    assert response.status_code == 302
    assert response["Location"] in (reverse("account_login"), reverse("deriv:accounts"))
    return client.get(response["Location"]).content.decode()


def _no_one_signed_in(client):
    assert "_auth_user_id" not in client.session
    assert not DerivLink.objects.exists() and not SocialAccount.objects.exists()


def test_a_callback_with_a_wrong_state_is_refused_before_any_exchange(client, deriv_on):
    params = at_deriv(start(client))
    response = callback(client, {**params, "state": "forged-state-value"})
    assert "unknown, expired or was already used" in refused(client, response)
    assert deriv_on.token_requests == []
    _no_one_signed_in(client)


def test_a_callback_from_another_browser_session_is_refused(client, deriv_on, django_user_model):
    from django.test import Client

    params = at_deriv(start(client))
    other = Client()
    assert "unknown, expired or was already used" in refused(other, callback(other, params))
    assert deriv_on.token_requests == []


def test_a_replayed_callback_is_refused_and_the_code_is_not_exchanged_twice(client, deriv_on):
    params = at_deriv(start(client))
    assert callback(client, params)["Location"] == reverse("socialaccount_signup")
    assert "already used" in refused(client, callback(client, params))
    assert len(deriv_on.token_requests) == 1


def test_cancelling_at_deriv_links_nothing(client, deriv_on):
    deriv_on.oauth_mode = "deny"
    params = at_deriv(start(client))
    assert params["error"] == "access_denied"
    assert "You cancelled at Deriv" in refused(client, callback(client, params))
    assert deriv_on.token_requests == []
    _no_one_signed_in(client)


def test_an_invalid_grant_at_the_token_endpoint_links_nothing(client, deriv_on):
    deriv_on.fail_next("token", "invalid_grant")
    assert "Deriv did not accept the sign-in" in refused(client, sign_in(client))
    _no_one_signed_in(client)


def test_a_token_without_the_trade_scope_is_refused_with_the_reason(client, deriv_on, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "deriv": {**settings.SOCIALACCOUNT_PROVIDERS["deriv"], "SCOPE": ["account_manage"]}
    }
    assert "not given the trade permission" in refused(client, sign_in(client))
    _no_one_signed_in(client)


def test_deriv_rate_limiting_the_sign_in_says_so(client, deriv_on):
    deriv_on.fail_next("accounts", "TooManyRequests", status=429)
    assert "limiting requests" in refused(client, sign_in(client))
    _no_one_signed_in(client)


# ---------------------------------------------------------------- unlinking


def test_unlink_deletes_the_tokens_and_leaves_the_accounts_dead(
    client, deriv_on, user, django_capture_on_commit_callbacks
):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    from apps.accounts.services import account_open_demo, account_select

    account_open_demo(user=user)
    client.force_login(user)
    sign_in(client, process="connect")
    deriv_demo = TradingAccount.objects.get(user=user, type=AccountType.DERIV_DEMO)
    account_select(user=user, account=deriv_demo)
    closed = []

    def close_sockets(sender, user_id, **kwargs):
        closed.append(user_id)

    signals.deriv_unlinked.connect(close_sockets, dispatch_uid="test-unlink")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("deriv:unlink"))
    finally:
        signals.deriv_unlinked.disconnect(dispatch_uid="test-unlink")
    assert closed == [user.pk]
    assert response.status_code == 302
    assert not DerivLink.objects.filter(user=user).exists()
    assert not SocialAccount.objects.filter(user=user).exists()
    assert set(DerivAccount.objects.filter(trading_account__user=user).values_list("connection", flat=True)) == {
        Connection.UNLINKED
    }
    assert TradingAccount.objects.get(user=user, is_selected=True).type == AccountType.DEMO
    page = client.get(reverse("deriv:accounts")).content.decode()
    assert "Link Deriv account" in page and "Unlinked" in page


def test_a_trader_without_a_password_must_set_one_before_unlinking(client, deriv_on):
    user = deriv_user(client, deriv_on)
    response = client.post(reverse("deriv:unlink"), follow=True)
    assert "Set a password first" in response.content.decode()
    assert DerivLink.objects.filter(user=user).exists()


def test_disconnecting_from_allauths_connections_page_unlinks_too(client, deriv_on, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    sign_in(client, process="connect")
    social = SocialAccount.objects.get(user=user)
    response = client.post(reverse("socialaccount_connections"), {"account": social.pk})
    assert response.status_code == 302
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not DerivLink.objects.filter(user=user).exists()
    assert not DerivAccount.objects.filter(trading_account__user=user).exclude(connection=Connection.UNLINKED).exists()


def test_run_fake_deriv_prints_the_settings_that_point_nexus_at_it(fake_deriv):
    from apps.deriv.management.commands.run_fake_deriv import env_lines

    lines = dict(line.split("=", 1) for line in env_lines(fake_deriv))
    assert lines == {
        "DERIV_ENABLED": "on",
        "DERIV_CLIENT_ID": fake_deriv.client_id,
        "DERIV_AUTH_URL": fake_deriv.auth_base,
        "DERIV_REST_BASE": fake_deriv.rest_base,
        "DERIV_WS_PUBLIC": fake_deriv.ws_public_url,
    }
