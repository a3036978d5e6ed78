"""OAuth2 + PKCE (auth.deriv.com) and the REST endpoints (api.derivws.com): API.md §2.2, §3.1, §6.2.

Accounts, OTP URLs, demo resets, and the app owner's markup statistics
(`GET /applications/v1/markup-statistics`, scope `application_read`), shaped as Deriv's
legacy `app_markup_statistics` answer: a `breakdown` per app and currency, and totals.
"""

import base64
import datetime
import hashlib
import json
import re
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

from .state import AuthCode, InvalidRequest

MARKUP_PATH = "/applications/v1/markup-statistics"
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S")
SCOPES = {"trade", "account_manage", "payment", "application_read"}
ACCOUNT_ID = re.compile(r"^[A-Z]{2,4}[0-9]{4,12}$")
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PARTNER_PARAMS = ("sidc", "utm_campaign", "utm_medium", "utm_source", "t", "affiliate_token", "sidi", "ca")
REST_STATUS = {
    "ValidationError": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MigrationPending": 409,
    "TooManyRequests": 429,
    "InternalError": 500,
    "BadGateway": 502,
    "ServiceUnavailable": 503,
    "GatewayTimeout": 504,
    "invalid_grant": 400,
    "invalid_request": 400,
    "invalid_client": 401,
    "unsupported_grant_type": 400,
}


def _json(status: int, body: dict, headers: dict | None = None):
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode(), 0.0


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class RestApi:
    """Mixin of FakeDeriv: everything said over HTTP."""

    # The app's markup, a percentage of each contract's payout (Deriv's `app_markup_percentage`, 0 to 5):
    # what the app owner earns on every contract bought through the app. Prices stay the captured ones.
    app_markup_percentage = Decimal("2")

    def _http_dispatch(self, method: str, target: str, headers: dict, body: bytes):
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == "/oauth2/auth" and method == "GET":
            return self._oauth_authorize(parse_qs(parts.query))
        if path == "/oauth2/token" and method == "POST":
            return self._with_fault("token", lambda: self._oauth_token(headers, body), oauth=True)
        if path == "/v1/health" and method == "GET":
            return _json(200, {"data": {"status": "ok"}})
        if path == MARKUP_PATH and method == "GET":
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            handler = lambda user, data: self._markup_statistics(query)  # noqa: E731
            return self._rest("markup_statistics", method, path, headers, body, "application_read", handler)
        segments = path.split("/")
        if path == "/trading/v1/options/accounts":
            if method == "GET":
                return self._rest("accounts", method, path, headers, body, "trade", self._accounts_list)
            if method == "POST":
                return self._rest("create_account", method, path, headers, body, "account_manage", self._account_create)
        if len(segments) == 7 and path.startswith("/trading/v1/options/accounts/") and method == "POST":
            account_id, action = segments[5], segments[6]
            if action == "otp":
                handler = lambda user, data: self._account_otp(user, account_id)  # noqa: E731
                return self._rest("otp", method, path, headers, body, "trade", handler)
            if action == "reset-demo-balance":
                handler = lambda user, data: self._account_reset(user, account_id)  # noqa: E731
                return self._rest("reset_demo_balance", method, path, headers, body, "trade", handler)
        return self._envelope(404, "NotFound", "Not found", method, path)

    def _envelope(self, status, code, message, method, path, headers=None):
        body = {
            "errors": [{"status": status, "code": code, "message": message}],
            "meta": {"endpoint": path, "method": method, "timing": 1},
        }
        return _json(status, body, headers)

    def _with_fault(self, name, handler, *, oauth=False, method="", path=""):
        fault = self._take_fault(name)
        if fault and fault.kind == "error":
            status = fault.status or REST_STATUS.get(fault.code, 400)
            if oauth:
                return _json(status, {"error": fault.code, "error_description": fault.message or fault.code})
            return self._envelope(status, fault.code, fault.message or fault.code, method, path)
        result = handler()
        if fault and fault.kind == "delay":
            return (*result[:3], fault.seconds)
        return result

    # ------------------------------------------------------------------ REST with a bearer token

    def _rest(self, name, method, path, headers, body, scope, handler):
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return self._envelope(401, "Unauthorized", "Authorization header is required", method, path)
        token = self.tokens.get(auth[len("Bearer ") :].strip())
        now = self.clock.now()
        if token is None or token.revoked or (token.expires_at is not None and token.expires_at <= now):
            return self._envelope(401, "Unauthorized", "Invalid or expired token", method, path)
        if token.pat and not headers.get("deriv-app-id"):
            return self._envelope(401, "Unauthorized", "Deriv-App-ID header is required for PAT tokens", method, path)
        hits = self.rest_hits[token.user_id]  # Deriv's limit is per user, whichever of their tokens
        while hits and now - hits[0] >= 60:
            hits.popleft()
        if len(hits) >= self.rest_rate_limit:
            return self._envelope(429, "TooManyRequests", "Rate limit exceeded", method, path, {"Retry-After": "60"})
        hits.append(now)
        if scope not in token.scopes:
            return self._envelope(403, "Forbidden", f"Insufficient scope: {scope} required", method, path)
        data = None
        if method == "POST" and body:
            if "application/json" not in headers.get("content-type", ""):
                self.invalid_requests.append(InvalidRequest("http", path, ("POST body without JSON content type",)))
                return self._envelope(400, "ValidationError", "Content-Type must be application/json", method, path)
            try:
                data = json.loads(body)
            except ValueError:
                self.invalid_requests.append(InvalidRequest("http", body, ("body is not JSON",)))
                return self._envelope(400, "ValidationError", "Invalid JSON body", method, path)

        def run():
            status, payload = handler(self.users[token.user_id], data)
            if status >= 400:
                return self._envelope(status, payload[0], payload[1], method, path)
            return _json(status, {"data": payload, "meta": {"endpoint": path, "method": method, "timing": 1}})

        return self._with_fault(name, run, method=method, path=path)

    def _accounts_list(self, user, data):
        return 200, [self.accounts[a].as_json() for a in user.accounts]

    def _account_create(self, user, data):
        data = data or {}
        problems = [
            name
            for name, allowed in (("currency", {"USD"}), ("group", {"row"}), ("account_type", {"demo", "real"}))
            if data.get(name) not in allowed
        ]
        if problems:
            return 400, ("ValidationError", "Invalid or missing: " + ", ".join(problems))
        for account_id in user.accounts:
            acc = self.accounts[account_id]
            if (acc.currency, acc.group, acc.account_type) == (data["currency"], data["group"], data["account_type"]):
                return 200, acc.as_json()
        balance = Decimal("10000") if data["account_type"] == "demo" else Decimal("0")
        acc = self._open_account(user, data["account_type"], balance, data["currency"], data["group"])
        return 201, acc.as_json()

    def _owned(self, user, account_id):
        if not ACCOUNT_ID.match(account_id):
            return None, (400, ("ValidationError", "Invalid account ID format"))
        if account_id not in user.accounts:
            return None, (404, ("NotFound", "Account not found"))
        return self.accounts[account_id], None

    def _account_otp(self, user, account_id):
        account, error = self._owned(user, account_id)
        if error:
            return error
        return 200, {"url": self._new_otp_url(account.account_id)}

    def _account_reset(self, user, account_id):
        account, error = self._owned(user, account_id)
        if error:
            return error
        if account.account_type != "demo":
            return 400, ("ValidationError", "Only demo accounts can be reset")
        account.balance = Decimal("10000")
        self._push_balance(account.account_id)
        return 200, account.as_json()

    # ------------------------------------------------------------------ the app owner's markup

    def contract_markup(self, contract) -> Decimal:
        """What the app earns on one contract: its markup percentage of the payout, to the cent."""
        share = contract.terms.payout * self.app_markup_percentage / 100
        return share.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def _markup_statistics(self, query: dict):
        bounds = []
        for name in ("date_from", "date_to"):
            value = (query.get(name) or "").strip()
            if not value:
                return 400, ("ValidationError", f"{name} is required")
            for fmt in DATE_FORMATS:
                try:
                    moment = datetime.datetime.strptime(value, fmt).replace(tzinfo=datetime.UTC)
                    break
                except ValueError:
                    continue
            else:
                return 400, ("ValidationError", f"{name} must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")
            bounds.append((moment, fmt))
        (start, _), (end, end_format) = bounds
        if end < start:
            return 400, ("ValidationError", "date_to must not be before date_from")
        if end_format == "%Y-%m-%d":
            end += datetime.timedelta(days=1)  # a day given alone is included whole
        start, end = start.timestamp(), end.timestamp()
        sums: dict[str, list] = defaultdict(lambda: [Decimal("0"), 0])
        for contract in self.contracts.values():
            if start <= contract.purchase_time < end:
                row = sums[contract.terms.currency]
                row[0] += self.contract_markup(contract)
                row[1] += 1
        breakdown = [
            {
                "app_id": self.client_id,
                "app_markup_usd": float(markup),  # every fake account is in USD
                "app_markup_value": float(markup),
                "dev_currcode": currency,
                "transactions_count": count,
            }
            for currency, (markup, count) in sorted(sums.items())
        ]
        return 200, {
            "breakdown": breakdown,
            "total_app_markup_usd": float(sum((m for m, _ in sums.values()), Decimal("0"))),
            "total_transactions_count": sum(c for _, c in sums.values()),
        }

    # ------------------------------------------------------------------ OAuth2 + PKCE

    def _oauth_authorize(self, query: dict):
        params = {k: v[0] for k, v in query.items()}
        self.authorize_requests.append(params)
        if params.get("client_id") != self.client_id:
            return self._page(400, "Unknown client_id.")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris):
            return self._page(400, "The redirect_uri does not match a registered redirect URI.")
        state = params.get("state")

        def back(**values):
            if state is not None:
                values["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            return 302, {"Location": redirect_uri + sep + urlencode(values)}, b"", 0.0

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="response_type must be code")
        scopes = set(params.get("scope", "").split())
        if not scopes or not scopes <= SCOPES:
            return back(error="invalid_scope", error_description="Unknown or missing scope")
        if not state:
            return back(error="invalid_request", error_description="state is required")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        fault = self._take_fault("authorize")
        if self.oauth_mode == "deny" or (fault and fault.kind == "error"):
            error = fault.code if fault and fault.kind == "error" else "access_denied"
            return back(error=error, error_description=(fault and fault.message) or "User cancelled")
        if self.login_user:
            user_id = self.login_user
        elif params.get("prompt") == "registration":
            user_id = self.add_user(_local=True)
        else:
            user_id = self.default_user
        code = AuthCode(
            self._secret("ory_ac_"),
            self.client_id,
            redirect_uri,
            params["code_challenge"],
            user_id,
            frozenset(scopes),
            self.clock.now() + self.code_ttl,
        )
        self.codes[code.code] = code
        return back(code=code.code)

    def _page(self, status: int, text: str):
        html = f"<!doctype html><title>Deriv</title><h1>Error</h1><p>{text}</p>".encode()
        return status, {"Content-Type": "text/html; charset=utf-8"}, html, 0.0

    def _oauth_error(self, status: int, error: str, description: str):
        return _json(status, {"error": error, "error_description": description}, {"Cache-Control": "no-store"})

    def _oauth_token(self, headers: dict, body: bytes):
        if "application/x-www-form-urlencoded" not in headers.get("content-type", ""):
            self.invalid_requests.append(InvalidRequest("http", "/oauth2/token", ("body is not form-encoded",)))
            return self._oauth_error(400, "invalid_request", "The request must be form-encoded.")
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self.token_requests.append(form)
        if form.get("client_id") != self.client_id:
            return self._oauth_error(401, "invalid_client", "Client authentication failed.")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            return self._oauth_refresh(form)
        if grant != "authorization_code":
            return self._oauth_error(400, "unsupported_grant_type", "The grant type is not supported.")
        invalid = "The provided authorization grant is invalid, expired, revoked, or was issued to another client."
        code = self.codes.get(form.get("code", ""))
        if code is None:
            return self._oauth_error(400, "invalid_grant", invalid)
        if code.used:
            # RFC 6749 §4.1.2: a reused code revokes what it issued.
            for token in self.tokens.values():
                if token.code == code.code:
                    token.revoked = True
            return self._oauth_error(400, "invalid_grant", invalid)
        if code.expires_at <= self.clock.now() or form.get("redirect_uri") != code.redirect_uri:
            return self._oauth_error(400, "invalid_grant", invalid)
        verifier = form.get("code_verifier", "")
        if not VERIFIER.match(verifier):
            return self._oauth_error(400, "invalid_request", "code_verifier is missing or malformed.")
        if s256(verifier) != code.challenge:
            return self._oauth_error(400, "invalid_grant", "The PKCE code_verifier does not match the challenge.")
        code.used = True
        return self._token_response(code.user_id, code.scopes, code=code.code)

    def _token_response(self, user_id, scopes, *, code=None, grant=None):
        token = self._new_token(user_id, scopes, code=code)
        token.grant = grant or code or uuid.uuid4().hex
        body = {
            "access_token": token.value,
            "token_type": "bearer",
            "expires_in": int(self.token_ttl),
            "scope": " ".join(sorted(scopes)),
        }
        if self.issue_refresh_tokens:
            refresh = self._secret("ory_rt_")
            self.refresh_tokens[refresh] = token
            body["refresh_token"] = refresh
        return _json(200, body, {"Cache-Control": "no-store"})

    def _oauth_refresh(self, form: dict):
        presented = form.get("refresh_token", "")
        spent = self.spent_refresh_tokens.get(presented)
        if spent is not None:
            # A refresh token used twice: someone holds a copy. Like Ory Hydra (whose token format Deriv's
            # is), revoke the whole chain: the tokens it issued, and every token issued from those since.
            self._revoke_grant(spent)
            return self._oauth_error(400, "invalid_grant", "The refresh token is invalid or was already used.")
        old = self.refresh_tokens.pop(presented, None)
        if old is None or old.revoked:
            return self._oauth_error(400, "invalid_grant", "The refresh token is invalid or was already used.")
        grant = old.grant or uuid.uuid4().hex
        self.spent_refresh_tokens[presented] = grant
        return self._token_response(old.user_id, old.scopes, grant=grant)

    def _revoke_grant(self, grant: str) -> None:
        for token in self.tokens.values():
            if token.grant == grant:
                token.revoked = True
        for value, token in list(self.refresh_tokens.items()):
            if token.grant == grant:
                del self.refresh_tokens[value]
                self.spent_refresh_tokens[value] = grant
