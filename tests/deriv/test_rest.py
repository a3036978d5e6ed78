import json
import secrets
import urllib.error
import urllib.request
from decimal import Decimal

import pytest

from apps.deriv import rest
from apps.deriv.errors import (
    AccessDenied,
    DerivTransportError,
    Forbidden,
    InvalidClient,
    InvalidGrant,
    NotFound,
    RateLimit,
    Unauthorized,
    ValidationError,
)

from .support import REDIRECT, authorize, exchange


def test_the_whole_flow_links_the_accounts(fake_deriv):
    verifier, state, callback = authorize(fake_deriv)
    assert callback["state"] == state and "code" in callback
    tokens = exchange(fake_deriv, callback["code"], verifier)
    assert tokens.access_token and set(tokens.scope.split()) == {"trade", "account_manage"}
    assert tokens.access_token not in repr(tokens)
    accounts = rest.DerivRest(tokens.access_token, base_url=fake_deriv.rest_base).accounts()
    assert sorted(a.account_type for a in accounts) == ["demo", "real"]
    demo = next(a for a in accounts if a.is_demo)
    assert demo.balance == Decimal("10000") and demo.currency == "USD" and demo.is_active


def test_token_extras_are_optional(fake_deriv):
    fake_deriv.issue_refresh_tokens = False
    verifier, _, callback = authorize(fake_deriv)
    tokens = exchange(fake_deriv, callback["code"], verifier)
    assert tokens.refresh_token is None and tokens.access_token


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back(fake_deriv):
    verifier, _, callback = authorize(fake_deriv)
    first = exchange(fake_deriv, callback["code"], verifier)
    second = rest.refresh_tokens(
        client_id=fake_deriv.client_id, refresh_token=first.refresh_token, auth_base=fake_deriv.auth_base
    )
    assert second.access_token != first.access_token and second.refresh_token
    with pytest.raises(InvalidGrant):  # a refresh token works once
        rest.refresh_tokens(
            client_id=fake_deriv.client_id, refresh_token=first.refresh_token, auth_base=fake_deriv.auth_base
        )


def test_a_wrong_verifier_is_invalid_grant(fake_deriv):
    _, _, callback = authorize(fake_deriv)
    with pytest.raises(InvalidGrant) as caught:
        exchange(fake_deriv, callback["code"], secrets.token_urlsafe(64))
    assert caught.value.status == 400


def test_a_reused_code_is_invalid_grant_and_revokes_its_tokens(fake_deriv):
    verifier, _, callback = authorize(fake_deriv)
    tokens = exchange(fake_deriv, callback["code"], verifier)
    with pytest.raises(InvalidGrant):
        exchange(fake_deriv, callback["code"], verifier)
    with pytest.raises(Unauthorized):
        rest.DerivRest(tokens.access_token, base_url=fake_deriv.rest_base).accounts()


def test_an_expired_code_is_invalid_grant(fake_deriv):
    verifier, _, callback = authorize(fake_deriv)
    fake_deriv.advance(61)
    with pytest.raises(InvalidGrant):
        exchange(fake_deriv, callback["code"], verifier)


def test_a_wrong_client_is_invalid_client(fake_deriv):
    verifier, _, callback = authorize(fake_deriv)
    with pytest.raises(InvalidClient) as caught:
        rest.exchange_code(
            client_id="someone-else",
            code=callback["code"],
            redirect_uri=REDIRECT,
            code_verifier=verifier,
            auth_base=fake_deriv.auth_base,
        )
    assert caught.value.status == 401


def test_a_user_who_cancels_comes_back_with_access_denied(fake_deriv):
    fake_deriv.oauth_mode = "deny"
    _, state, callback = authorize(fake_deriv)
    assert callback == {"error": "access_denied", "error_description": "User cancelled", "state": state}
    with pytest.raises(AccessDenied):
        raise rest.callback_error(callback)


def test_rest_without_a_valid_token_is_401(fake_deriv):
    with pytest.raises(Unauthorized) as caught:
        rest.DerivRest("nonsense", base_url=fake_deriv.rest_base).accounts()
    assert caught.value.status == 401
    token = fake_deriv.issue_token()
    fake_deriv.expire_token(token)
    with pytest.raises(Unauthorized):
        rest.DerivRest(token, base_url=fake_deriv.rest_base).accounts()


def test_a_pat_needs_the_app_id_header(fake_deriv):
    pat = fake_deriv.issue_token(pat=True)
    with pytest.raises(Unauthorized) as caught:
        rest.DerivRest(pat, base_url=fake_deriv.rest_base).accounts()
    assert "Deriv-App-ID" in caught.value.message
    assert rest.DerivRest(pat, base_url=fake_deriv.rest_base, app_id=fake_deriv.client_id).accounts()


def test_rest_without_the_scope_is_403(fake_deriv):
    no_trade = rest.DerivRest(fake_deriv.issue_token(scopes=("account_manage",)), base_url=fake_deriv.rest_base)
    with pytest.raises(Forbidden) as caught:
        no_trade.accounts()
    assert caught.value.status == 403


def test_rest_beyond_the_rate_limit_is_429(fake_deriv):
    fake_deriv.rest_rate_limit = 3
    client = rest.DerivRest(fake_deriv.issue_token(), base_url=fake_deriv.rest_base)
    for _ in range(3):
        client.accounts()
    with pytest.raises(RateLimit) as caught:
        client.accounts()
    assert caught.value.status == 429
    fake_deriv.advance(60)  # the window is a minute of the fake's clock
    assert client.accounts()


def test_accounts_otp_and_demo_reset(fake_deriv):
    client = rest.DerivRest(fake_deriv.issue_token(), base_url=fake_deriv.rest_base)
    demo_id = fake_deriv.account_id("demo")
    url = client.otp_url(demo_id)
    assert url.startswith(fake_deriv.ws_base + "demo?otp=")
    with pytest.raises(ValidationError):
        client.otp_url("not-an-id")
    with pytest.raises(NotFound):
        client.otp_url("DOT12345678")
    fake_deriv.set_balance(demo_id, 12)
    client.reset_demo_balance(demo_id)
    assert fake_deriv.balance(demo_id) == Decimal("10000")
    with pytest.raises(ValidationError):
        client.reset_demo_balance(fake_deriv.account_id("real"))


def test_documented_errors_can_be_injected(fake_deriv):
    client = rest.DerivRest(fake_deriv.issue_token(), base_url=fake_deriv.rest_base)
    fake_deriv.fail_next("otp", "InternalError", "Failed to generate OTP")
    from apps.deriv.errors import InternalError

    with pytest.raises(InternalError) as caught:
        client.otp_url(fake_deriv.account_id("demo"))
    assert caught.value.status == 500 and caught.value.message == "Failed to generate OTP"


def test_an_unreachable_deriv_is_a_transport_error(fake_deriv):
    client = rest.DerivRest("x", base_url="http://127.0.0.1:9")
    with pytest.raises(DerivTransportError):
        client.accounts()


def test_rest_errors_use_deriv_s_envelope(fake_deriv):
    request = urllib.request.Request(fake_deriv.rest_base + "/trading/v1/options/accounts")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    body = json.loads(caught.value.read())
    assert body["errors"][0]["status"] == 401 and body["meta"]["endpoint"] == "/trading/v1/options/accounts"
