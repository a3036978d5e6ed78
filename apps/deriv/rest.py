"""Deriv's OAuth2 token endpoint and the REST endpoints of its New API, on the standard library only.

auth.deriv.com: /oauth2/token (the server-side code exchange and refresh). The browser's
side, /oauth2/auth with its state and PKCE pair, is allauth's (apps.deriv.provider).
api.derivws.com: accounts, per-account OTP WebSocket URLs, demo balance reset, and the app
owner's markup statistics.
Every error becomes a typed DerivError; tokens never appear in a message or log line.
"""

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote, urlencode

from . import adapter
from .errors import DerivError, DerivTimeout, DerivTransportError, WrongResponse, from_rest, redact

log = logging.getLogger(__name__)

AUTH_BASE = "https://auth.deriv.com"
REST_BASE = "https://api.derivws.com"
ACCOUNTS_PATH = "/trading/v1/options/accounts"
MARKUP_STATISTICS_PATH = "/applications/v1/markup-statistics"


# ---------------------------------------------------------------- the OAuth callback


def callback_error(params: Mapping[str, str]) -> DerivError | None:
    """The error an OAuth callback carries (`error=access_denied&error_description=…`), or None.

    Check `state` first (API.md §3.1 step 3): an unknown state is rejected whatever else is there.
    """
    if not params.get("error"):
        return None
    return from_rest(None, {"error": params["error"], "error_description": params.get("error_description") or ""})


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint gave. Only `access_token` is documented as always present."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None


def _token_set(body: object) -> TokenSet:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise WrongResponse("token answer without access_token")
    expires = body.get("expires_in")
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") or None,
        token_type=body.get("token_type"),
        expires_in=int(expires) if isinstance(expires, int | float | str) and str(expires).isdigit() else None,
        scope=body.get("scope"),
    )


def exchange_code(
    *,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    auth_base: str = AUTH_BASE,
    timeout: float = 10.0,
) -> TokenSet:
    """Trade the callback's code for tokens (form-encoded POST, server side only)."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    return _token_set(_post_form(f"{auth_base.rstrip('/')}/oauth2/token", form, timeout))


def refresh_tokens(
    *, client_id: str, refresh_token: str, auth_base: str = AUTH_BASE, timeout: float = 10.0
) -> TokenSet:
    """grant_type=refresh_token (not documented by Deriv: API.md §3.1 step 5). Keeps the old
    refresh token when the answer has none."""
    form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token}
    tokens = _token_set(_post_form(f"{auth_base.rstrip('/')}/oauth2/token", form, timeout))
    if tokens.refresh_token is None:
        tokens = TokenSet(tokens.access_token, refresh_token, tokens.token_type, tokens.expires_in, tokens.scope)
    return tokens


def _post_form(url: str, form: dict, timeout: float):
    data = urlencode(form).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    return _send(request, timeout, what="POST /oauth2/token")


# ---------------------------------------------------------------- REST


class DerivRest:
    """REST calls with one bearer token (an OAuth access token, or a PAT with `app_id`)."""

    def __init__(self, token: str, *, base_url: str = REST_BASE, app_id: str | None = None, timeout: float = 10.0):
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<DerivRest {self.base_url}>"

    def accounts(self) -> list[adapter.Account]:
        return adapter.parse_accounts(self._request("GET", ACCOUNTS_PATH))

    def otp_url(self, account_id: str) -> str:
        """A one-time WebSocket URL for this account (demo or real): use it at once, and only once."""
        return adapter.parse_otp(self._request("POST", f"{ACCOUNTS_PATH}/{quote(account_id, safe='')}/otp"))

    def reset_demo_balance(self, account_id: str) -> adapter.Account | None:
        body = self._request("POST", f"{ACCOUNTS_PATH}/{quote(account_id, safe='')}/reset-demo-balance")
        data = body.get("data") if isinstance(body, dict) else None
        # The answer's shape is not documented (API.md §2.2): use it only if it is an account.
        return adapter.parse_account(data) if isinstance(data, dict) and data.get("account_id") else None

    def markup_statistics(self, date_from: date, date_to: date) -> adapter.MarkupStatistics:
        """The app owner's markup on contracts bought through their apps, both days included (scope
        `application_read`)."""
        query = urlencode({"date_from": date_from.isoformat(), "date_to": date_to.isoformat()})
        body = self._request("GET", f"{MARKUP_STATISTICS_PATH}?{query}")
        return adapter.parse_markup_statistics(body, date_from=date_from.isoformat(), date_to=date_to.isoformat())

    def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if self.app_id:
            headers["Deriv-App-ID"] = self.app_id
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers)
        body = _send(request, self.timeout, what=f"{method} {path}")
        if not isinstance(body, dict):
            raise WrongResponse(f"{method} {path}: answer is not a JSON object")
        return body


def _send(request: urllib.request.Request, timeout: float, *, what: str):
    """Do one HTTP exchange; JSON body back, or a typed error (never with the request's secrets)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        error = from_rest(exc.code, body)
        log.warning("Deriv %s -> HTTP %s %s", what, exc.code, error.code)
        raise error from None
    except TimeoutError:
        raise DerivTimeout(f"{what}: no answer within {timeout}s") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise DerivTimeout(f"{what}: no answer within {timeout}s") from None
        raise DerivTransportError(f"{what}: Deriv unreachable ({type(reason).__name__})") from None
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise WrongResponse(f"{what}: answer is not JSON: {redact(raw[:100])}") from None
