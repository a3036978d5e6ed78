import logging
from decimal import Decimal

import pytest

from apps.deriv import adapter, rest
from apps.deriv.errors import DerivError

from .conftest import Collector, OtpProvider, wait_for
from .support import authorize, exchange, pong


def test_no_token_code_verifier_or_otp_ever_reaches_a_log_line_or_an_error(fake_deriv, clients, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("websocket", "apps.deriv", "apps.deriv.client", "apps.deriv.rest", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    errors: list[DerivError] = []

    def expect_error(fn, *args, **kwargs):
        with pytest.raises(DerivError) as caught:
            fn(*args, **kwargs)
        errors.append(caught.value)

    # OAuth: good flow, wrong verifier, reused code, cancelled
    verifier, _, callback = authorize(fake_deriv)
    verifiers = [verifier]
    tokens = exchange(fake_deriv, callback["code"], verifier)
    logging.getLogger("apps.deriv").debug("linked: %r", tokens)
    expect_error(exchange, fake_deriv, callback["code"], verifier)
    verifier2, _, callback2 = authorize(fake_deriv)
    verifiers.append(verifier2)
    expect_error(exchange, fake_deriv, callback2["code"], "w" * 50)
    fake_deriv.oauth_mode = "deny"
    _, _, denied = authorize(fake_deriv)
    errors.append(rest.callback_error(denied))
    fake_deriv.oauth_mode = "approve"

    # REST: 401, 403, 429
    expect_error(rest.DerivRest(tokens.access_token, base_url=fake_deriv.rest_base).accounts)  # revoked by reuse
    expect_error(rest.DerivRest(fake_deriv.issue_token(scopes=("payment",)), base_url=fake_deriv.rest_base).accounts)
    fake_deriv.advance(60)  # a new minute: the limit counts every call of the Deriv user
    fake_deriv.rest_rate_limit = 2
    limited = rest.DerivRest(fake_deriv.issue_token(), base_url=fake_deriv.rest_base)
    limited.accounts()
    limited.accounts()
    expect_error(limited.accounts)
    fake_deriv.rest_rate_limit = 80
    fake_deriv.advance(60)

    # WebSocket: OTP connect, reused OTP, drop + reconnect with a fresh OTP, an uncertain buy, garbage
    provider = OtpProvider(fake_deriv)
    demo = clients(url_provider=provider, name="demo").connect()
    expect_error(lambda: clients(provider.urls[0], reconnect=False).connect())
    demo.subscribe(adapter.balance_request(), Collector())
    fake_deriv.drop_sockets("demo")
    wait_for(lambda: demo.connections == 2 and all(s.id for s in demo.subscriptions))
    proposal = adapter.parse_proposal(
        demo.call(
            adapter.proposal_request(
                symbol="R_10", direction="FALL", stake=Decimal("1"), duration=3, duration_unit="t", currency="USD"
            )
        )
    )
    fake_deriv.drop_on_next("buy")
    expect_error(demo.call, adapter.buy_request(proposal.id, proposal.ask_price, subscribe=False))
    wait_for(lambda: demo.connections == 3)
    fake_deriv.send_raw('{"echo": "' + provider.urls[-1] + '", "access_token": "' + provider.token)
    assert pong(demo)

    # A token that expires mid-session: the reconnect gives up without saying the token
    fake_deriv.expire_token(provider.token)
    fake_deriv.drop_sockets("demo")
    wait_for(lambda: demo.state == "failed")

    secrets = fake_deriv.issued_secrets() | set(verifiers)
    assert len(secrets) > 10
    text = caplog.text
    assert "ignored a malformed message" in text and "reconnect" in text  # the paths did log
    leaked = sorted(s for s in secrets if s in text)
    assert not leaked, f"secrets in logs: {len(leaked)}"
    for error in errors:
        shown = f"{error} {error!r} {error.message} {error.details}"
        assert not [s for s in secrets if s in shown], type(error).__name__
