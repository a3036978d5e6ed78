"""A faithful fake of Deriv's New API for tests and local development (API.md §10).

    from tests.fakes.deriv import FakeDeriv
    fake = FakeDeriv(frozen=True).start()        # or the `fake_deriv` fixture (tests.fakes.deriv.fixtures)
    fake.auth_base / fake.rest_base / fake.ws_public_url    # point DERIV_AUTH_URL etc. here
    token = fake.issue_token()                   # or the real OAuth2 + PKCE flow at auth_base/oauth2/auth
    fake.advance(10)                             # ticks, stream updates and settlements up to now+10 s
    fake.inject_ticks("R_100", [100, 100])       # exact quotes for the next ticks
    fake.fail_next("buy", "InsufficientBalance") # any documented error, WS call or REST operation
    fake.fail_next("buy", "InternalError", processed=True)  # carried out, but answered with the error
    fake.drop_sockets("demo", mode="abrupt")     # or mode="close", code=1001
    fake.quirk("status_null", "req_id_string")   # what a real Deriv does now and then (server.QUIRKS)
    fake.close_contract(contract_id, "cancelled")  # end a contract now as Deriv says it
    fake.stop()

Deriv's limits, as its Limits page gives them: per socket 100 requests a second, and a minute
(on the fake's clock) 360 proposal + proposal_open_contract + buy + sell, 100 balance, 30 portfolio
and 220 of everything else, each answered beyond with a `RateLimit` error (the socket stays open);
REST 80 a minute per user (429). A refresh token used twice revokes its whole chain.

Standalone: `python -m tests.fakes.deriv --port 8765` (HTTP on 8765, WebSockets on 8766).
Every WebSocket request is validated against Deriv's schemas adjusted for the New API; invalid
ones are answered like Deriv would and recorded in `fake.invalid_requests` (the fixture fails on them).
"""

from .server import FakeDeriv

__all__ = ["FakeDeriv"]
