"""FakeDeriv: Deriv's New API (OAuth, REST, public and OTP WebSockets) on 127.0.0.1.

It runs its own asyncio loop in a thread: every piece of state is touched on
that loop only, and the control methods a test calls (advance the clock,
inject ticks, drop sockets, fail the next call…) hop onto it and wait.
"""

import asyncio
import contextlib
import http
import json
import logging
import random
import secrets
import threading
import time
from collections import defaultdict, deque
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from .contracts import Contract
from .market import SYMBOLS, FakeClock, TickSeries
from .rest_api import RestApi
from .state import Account, Drop, Fault, InvalidRequest, Otp, Socket, Token, User
from .ws_api import WS_MINUTE_LIMITS, WsApi

log = logging.getLogger("tests.fakes.deriv")
# The fake's own transport chatter (handshakes with OTPs in the path) is no test's business.
ws_log = logging.getLogger("tests.fakes.deriv.websockets")
ws_log.setLevel(logging.WARNING)

WS_PATH = "/trading/v1/options/ws/"

# Things a real Deriv does now and then that the fake does only when a test turns them on (quirk()).
QUIRKS = {
    # proposal_open_contract payloads
    "flags_as_booleans": "is_sold, is_expired… as JSON true/false instead of 1/0",
    "epochs_as_strings": 'epochs as numeric strings ("1700000006.0")',
    "odd_field": "one optional field of the wrong type (current_spot_time as a list)",
    "status_null": "a sold contract's status is null",
    "no_sell_price": "a sold contract's final update has no sell_price",
    # transport
    "req_id_string": 'req_id echoed as a string ("7")',
    "no_msg_type": "stream updates without msg_type",
    "poc_other_subscription": "contract updates arrive under a subscription id the client never saw",
    "silent_poc_streams": "contract streams send nothing after their first answer (polls still answer)",
}
DEFAULT_START = 1_700_000_000  # a fixed epoch keeps frozen-clock tests reproducible


class FakeDeriv(RestApi, WsApi):
    """A faithful stand-in for Deriv, started and stopped from Python.

    >>> fake = FakeDeriv(frozen=True).start()
    >>> fake.auth_base, fake.rest_base, fake.ws_public_url
    >>> fake.stop()
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        http_port: int = 0,
        ws_port: int = 0,
        seed: int = 1,
        clock_start: float | None = DEFAULT_START,
        frozen: bool = True,
        speed: float = 1.0,
        client_id: str = "nexus-test-app",
        redirect_uris: list[str] | None = None,
        code_ttl: float = 60,
        otp_ttl: float = 30,
        token_ttl: float = 3600,
        issue_refresh_tokens: bool = True,
        ws_rate_limit: int = 100,
        ws_minute_limits: dict[str, int] | None = None,
        max_subscriptions: int = 100,
        max_sockets_per_user: int = 5,
        rest_rate_limit: int = 80,
        inactivity_timeout: float | None = None,
        history_seconds: int = 600,
        string_money: bool = True,
        omit_echo_req: bool = True,
    ):
        self.host = host
        self._ports = (http_port, ws_port)
        self.http_port = self.ws_port = 0
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock = FakeClock(clock_start, speed=speed, frozen=frozen)
        self.client_id = client_id
        self.redirect_uris = redirect_uris
        self.code_ttl = code_ttl
        self.otp_ttl = otp_ttl
        self.token_ttl = token_ttl
        self.issue_refresh_tokens = issue_refresh_tokens
        self.ws_rate_limit = ws_rate_limit
        # Per socket and per minute of the fake's clock, by group (Deriv's Limits page):
        # proposal + proposal_open_contract + buy + sell, balance, portfolio, everything else.
        self.ws_minute_limits = {**WS_MINUTE_LIMITS, **(ws_minute_limits or {})}
        self.max_subscriptions = max_subscriptions
        self.max_sockets_per_user = max_sockets_per_user
        self.rest_rate_limit = rest_rate_limit
        self.inactivity_timeout = inactivity_timeout
        self.string_money = string_money
        self.omit_echo_req = omit_echo_req
        self.quirks: set[str] = set()  # see QUIRKS and quirk()

        now = self.clock.now()
        self.series = {s: TickSeries(spec, seed, int(now), history_seconds) for s, spec in SYMBOLS.items()}
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict = {}
        self.refresh_tokens: dict[str, Token] = {}
        self.otps: dict[str, Otp] = {}
        self.contracts: dict[int, Contract] = {}
        self.sockets: set[Socket] = set()
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.rest_hits: dict[str, deque[float]] = defaultdict(deque)  # by Deriv user
        self.spent_refresh_tokens: dict[str, str] = {}  # a used refresh token -> its grant
        self.invalid_requests: list[InvalidRequest] = []
        self.ws_requests: list[tuple[str, str | None, dict]] = []
        self.authorize_requests: list[dict] = []
        self.token_requests: list[dict] = []
        self.handshakes: list[tuple[str, int]] = []  # (path without query, HTTP status)
        self.oauth_mode = "approve"
        self.login_user: str | None = None
        self._next_contract = 244821136548
        self._next_transaction = 488866554321
        self._next_user = 0
        self._next_account = 90000000
        self._issued: set[str] = set()  # every secret handed out, for leak checks
        self.default_user = self.add_user("trader@example.com", _local=True)

        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self._current_delay = 0.0
        self._suppress: Socket | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "FakeDeriv":
        self._thread = threading.Thread(target=self._run, name="fake-deriv", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Deriv did not start")
        if self._startup_error:
            raise self._startup_error
        return self

    def stop(self) -> None:
        if self.loop and self._stopping and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)

    def __enter__(self) -> "FakeDeriv":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced to start()
            self._startup_error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        http_server = await asyncio.start_server(self._http_connection, self.host, self._ports[0])
        ws_server = await serve(
            self._ws_handler,
            self.host,
            self._ports[1],
            process_request=self._ws_handshake,
            ping_interval=None,
            compression=None,
            server_header=None,
            logger=ws_log,
        )
        self.http_port = http_server.sockets[0].getsockname()[1]
        self.ws_port = ws_server.sockets[0].getsockname()[1]
        ticker = asyncio.create_task(self._ticker())
        self._ready.set()
        await self._stopping.wait()
        ticker.cancel()
        for sock in list(self.sockets):
            sock.ws.transport.abort()
        ws_server.close(close_connections=False)
        http_server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws_server.wait_closed(), 2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(http_server.wait_closed(), 2)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            try:
                self._pump()
                self._close_idle_sockets()
            except Exception:
                log.exception("fake Deriv ticker failed")

    def _call(self, fn, *args, **kwargs):
        """Run fn on the fake's loop (where all state lives) and return its result."""
        if self.loop is None or not self._thread.is_alive() or threading.current_thread() is self._thread:
            result = fn(*args, **kwargs)  # not running (or already on the loop): no one else touches the state
            if asyncio.iscoroutine(result):
                result.close()
                raise RuntimeError("fake Deriv is not running")
            return result

        async def run():
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    # ------------------------------------------------------------------ URLs

    @property
    def auth_base(self) -> str:
        """Where /oauth2/auth and /oauth2/token live (https://auth.deriv.com for real)."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def rest_base(self) -> str:
        """https://api.derivws.com for real."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.ws_port}{WS_PATH}"

    @property
    def ws_public_url(self) -> str:
        return self.ws_base + "public"

    # ------------------------------------------------------------------ clock and market

    def now(self) -> float:
        return self.clock.now()

    def freeze(self) -> None:
        self.clock.freeze()

    def unfreeze(self, speed: float | None = None) -> None:
        self.clock.unfreeze(speed)

    def advance(self, seconds: float) -> None:
        """Move the clock on; every tick, stream update and settlement due is sent before this returns."""

        async def run():
            self.clock.advance(seconds)
            self._pump()
            await self._flush()

        self._call(run)

    def inject_ticks(self, symbol: str, quotes) -> None:
        """The next len(quotes) ticks of `symbol` carry exactly these quotes (equal ones included)."""
        self._call(self.series[symbol].inject, list(quotes))

    def last_tick(self, symbol: str):
        return self._call(lambda: self.series[symbol].last)

    async def _flush(self) -> None:
        for sock in list(self.sockets):
            if not sock.closed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(sock.outbox.join(), 2)

    # ------------------------------------------------------------------ users, tokens, OTPs

    def add_user(
        self,
        email: str | None = None,
        *,
        demo_balance: float = 10000,
        real_balance: float | None = 1000,
        _local: bool = False,
    ) -> str:
        """A Deriv user with a demo account (and a real one unless real_balance is None)."""

        def run():
            self._next_user += 1
            user = User(f"u{self._next_user}", email or f"user{self._next_user}@example.com")
            self.users[user.user_id] = user
            self._open_account(user, "demo", Decimal(str(demo_balance)))
            if real_balance is not None:
                self._open_account(user, "real", Decimal(str(real_balance)))
            return user.user_id

        return run() if _local else self._call(run)

    def _open_account(self, user: User, account_type: str, balance: Decimal, currency="USD", group="row") -> Account:
        self._next_account += 1
        prefix = "DOT" if account_type == "demo" else "ROT"  # real prefixes are unknown (API.md §11.7)
        account = Account(f"{prefix}{self._next_account}", user.user_id, account_type, balance, currency, group)
        self.accounts[account.account_id] = account
        user.accounts.append(account.account_id)
        return account

    def user_accounts(self, user_id: str | None = None) -> list[dict]:
        user_id = user_id or self.default_user
        return self._call(lambda: [self.accounts[a].as_json() for a in self.users[user_id].accounts])

    def account_id(self, account_type: str = "demo", user_id: str | None = None) -> str:
        for acc in self.user_accounts(user_id):
            if acc["account_type"] == account_type:
                return acc["account_id"]
        raise LookupError(account_type)

    def balance(self, account_id: str) -> Decimal:
        return self._call(lambda: self.accounts[account_id].balance)

    def set_balance(self, account_id: str, amount) -> None:
        def run():
            self.accounts[account_id].balance = Decimal(str(amount))
            self._push_balance(account_id)

        self._call(run)

    def _secret(self, prefix: str = "") -> str:
        value = prefix + secrets.token_urlsafe(24)
        self._issued.add(value)
        return value

    def issue_token(
        self, user_id: str | None = None, *, scopes=("trade", "account_manage"), ttl: float | None = None, pat=False
    ) -> str:
        """An access token (or PAT) without going through OAuth."""

        def run():
            return self._new_token(user_id or self.default_user, frozenset(scopes), ttl, pat=pat).value

        return self._call(run)

    def _new_token(self, user_id, scopes, ttl=None, *, pat=False, code=None) -> Token:
        ttl = self.token_ttl if ttl is None else ttl
        expires = None if pat else self.clock.now() + ttl
        token = Token(self._secret("pat_" if pat else "ory_at_"), user_id, scopes, expires, pat=pat, code=code)
        self.tokens[token.value] = token
        return token

    def expire_token(self, token: str) -> None:
        self._call(lambda: setattr(self.tokens[token], "expires_at", self.clock.now() - 1))

    def revoke_token(self, token: str) -> None:
        self._call(lambda: setattr(self.tokens[token], "revoked", True))

    def issue_otp_url(self, account_id: str) -> str:
        return self._call(self._new_otp_url, account_id)

    def _new_otp_url(self, account_id: str) -> str:
        otp = Otp(self._secret(), account_id, self.clock.now() + self.otp_ttl)
        self.otps[otp.value] = otp
        return f"{self.ws_base}{self.accounts[account_id].account_type}?otp={otp.value}"

    def issued_secrets(self) -> set[str]:
        """Every token, refresh token, code and OTP handed out so far."""
        return self._call(lambda: set(self._issued))

    def login_as(self, user_id: str | None) -> None:
        """Who the authorize page logs in (None: the default user; sign-ups create a new user)."""
        self.login_user = user_id

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        call: str,
        code: str | None,
        message: str | None = None,
        *,
        details=None,
        status=None,
        times=1,
        processed=False,
    ):
        """The next `times` calls of this type (WS method, or token|accounts|create_account|otp|
        reset_demo_balance|markup_statistics|authorize) get this documented error instead of being processed.

        `processed` (WebSocket calls): the call is carried out (a buy buys) and only its answer is the
        error, as when Deriv fails after the fact. `code=None`: an error object without a code.
        """
        fault = Fault("error", code=code, message=message, details=details, status=status, processed=processed)
        self._call(lambda: self.faults[call].extend([fault] * times))

    def clear_faults(self, call: str) -> None:
        """Forget the faults still queued for this call type."""
        self._call(lambda: self.faults.pop(call, None))

    def quirk(self, *names: str, on: bool = True) -> None:
        """Turn Deriv quirks on (or off): the names in QUIRKS."""
        unknown = set(names) - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}")
        self._call(lambda: self.quirks.update(names) if on else self.quirks.difference_update(names))

    def close_contract(self, contract_id: int, status: str, sell_price=None) -> None:
        """End an open contract now as Deriv says it (e.g. "cancelled" at its buy price, "sold" for a price);
        its stream and the balance are updated as for any settlement."""

        def run():
            c = self.contracts[contract_id]
            price = c.terms.ask_price if sell_price is None else Decimal(str(sell_price))
            c.exit = c.exit or c.current
            self._close_contract(c, status, price)
            self._push_contract(c)
            self._push_balance(c.account_id)

        self._call(run)

    def delay_next(self, call: str, seconds: float, *, times: int = 1) -> None:
        """The next responses to this call type are sent `seconds` (real time) late."""
        self._call(lambda: self.faults[call].extend([Fault("delay", seconds=seconds)] * times))

    def drop_on_next(self, call: str, *, after_response=False, mode="abrupt", code=1011) -> None:
        """The next call of this type is processed, then its socket dies before (or right after) the answer."""
        fault = Fault("drop", drop=Drop(mode, code), after_response=after_response)
        self._call(lambda: self.faults[call].append(fault))

    def drop_sockets(self, kind: str | None = None, *, account_id=None, mode="abrupt", code=1000) -> int:
        """Close matching sockets now: mode "abrupt" (TCP abort, no close frame) or "close" (clean, `code`)."""

        async def run():
            victims = [s for s in self.sockets if self._matches(s, kind, account_id)]
            for sock in victims:
                await self._drop(sock, Drop(mode, code))
            return len(victims)

        return self._call(run)

    def send_raw(self, text: str, kind: str | None = None, *, account_id=None) -> int:
        """Push an arbitrary (e.g. malformed) text frame to matching sockets."""

        async def run():
            victims = [s for s in self.sockets if self._matches(s, kind, account_id)]
            for sock in victims:
                sock.outbox.put_nowait((None, text))
            await self._flush()
            return len(victims)

        return self._call(run)

    @staticmethod
    def _matches(sock: Socket, kind, account_id) -> bool:
        return (kind is None or sock.kind == kind) and (account_id is None or sock.account_id == account_id)

    def _take_fault(self, call: str) -> Fault | None:
        queue = self.faults.get(call)
        return queue.popleft() if queue else None

    async def _drop(self, sock: Socket, drop: Drop) -> None:
        sock.closed = True
        if drop.mode == "abrupt":
            sock.ws.transport.abort()
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.ws.close(drop.code, "closed by fake Deriv"), 2)

    # ------------------------------------------------------------------ inspection

    def take_invalid_requests(self) -> list[InvalidRequest]:
        """Return and forget the invalid requests seen (for tests that send them on purpose)."""

        def run():
            found, self.invalid_requests = self.invalid_requests, []
            return found

        return self._call(run)

    def assert_no_invalid_requests(self) -> None:
        found = self.take_invalid_requests()
        assert not found, "invalid requests sent to fake Deriv:\n" + "\n".join(map(str, found))

    def requests(self, call: str | None = None, kind: str | None = None) -> list[dict]:
        """WebSocket requests received (after rate limiting), optionally of one call type and socket kind."""

        def run():
            return [r for k, _, r in self.ws_requests if (call is None or call in r) and (kind is None or k == kind)]

        return self._call(run)

    def rest_calls(self, user_id: str | None = None) -> int:
        """REST calls of this Deriv user that count against its limit now (the last minute of the fake's clock)."""
        return self._call(lambda: len(self.rest_hits[user_id or self.default_user]))

    def token_refreshes(self) -> int:
        """grant_type=refresh_token requests received at the token endpoint."""
        return self._call(lambda: sum(1 for form in self.token_requests if form.get("grant_type") == "refresh_token"))

    def socket_count(self, kind: str | None = None) -> int:
        return self._call(lambda: sum(1 for s in self.sockets if not s.closed and (kind is None or s.kind == kind)))

    def subscription_count(self, kind: str | None = None) -> int:
        return self._call(lambda: sum(len(s.subs) for s in self.sockets if kind is None or s.kind == kind))

    def contract(self, contract_id: int) -> dict:
        return self._call(lambda: self._poc_payload(self.contracts[contract_id], None, strings=False))

    def open_contracts(self, account_id: str | None = None) -> list[int]:
        return self._call(
            lambda: [
                c.contract_id
                for c in self.contracts.values()
                if not c.is_sold and (account_id is None or c.account_id == account_id)
            ]
        )

    # ------------------------------------------------------------------ WebSocket transport

    def _handshake_refusal(self, status: int, code: str, message: str) -> Response:
        body = json.dumps(
            {"errors": [{"status": status, "code": code, "message": message}], "meta": {"method": "GET"}}
        ).encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return Response(status, http.HTTPStatus(status).phrase, headers, body)

    def _ws_handshake(self, connection, request):
        parts = urlsplit(request.path)
        path = parts.path
        status = 101
        try:
            if not path.startswith(WS_PATH) or path[len(WS_PATH) :] not in ("public", "demo", "real"):
                status = 404
                return self._handshake_refusal(404, "NotFound", "Not found")
            kind = path[len(WS_PATH) :]
            connection.fake_ctx = (kind, None, None)
            if kind == "public":
                return None
            otp_values = parse_qs(parts.query).get("otp")
            if not otp_values:
                status = 400
                return self._handshake_refusal(400, "ValidationError", "OTP parameter is required")
            otp = self.otps.get(otp_values[0])
            if (
                otp is None
                or otp.used
                or otp.expires_at <= self.clock.now()
                or self.accounts[otp.account_id].account_type != kind
            ):
                status = 401
                return self._handshake_refusal(401, "Unauthorized", "Invalid or expired OTP token")
            account = self.accounts[otp.account_id]
            live = sum(1 for s in self.sockets if s.user_id == account.user_id and not s.closed)
            if live >= self.max_sockets_per_user:
                status = 429
                return self._handshake_refusal(429, "TooManyConnections", "Too many concurrent connections")
            otp.used = True
            connection.fake_ctx = (kind, account.account_id, account.user_id)
            return None
        finally:
            self.handshakes.append((path, status))

    async def _ws_handler(self, ws) -> None:
        kind, account_id, user_id = ws.fake_ctx
        sock = Socket(ws, kind, account_id, user_id)
        self.sockets.add(sock)
        writer = asyncio.create_task(self._writer(sock))
        try:
            async for raw in ws:
                sock.last_recv = time.monotonic()
                try:
                    self._on_message(sock, raw)
                except Exception:
                    log.exception("fake Deriv failed on a message")
        except ConnectionClosed:
            pass
        finally:
            sock.closed = True
            self.sockets.discard(sock)
            for sub in list(sock.subs.values()):
                sock.end(sub, forgotten=True)
            writer.cancel()

    async def _writer(self, sock: Socket) -> None:
        while True:
            sub, message = await sock.outbox.get()
            try:
                if isinstance(message, Drop):
                    await self._drop(sock, message)
                elif not sock.closed and (sub is None or not sub.forgotten):
                    await sock.ws.send(message if isinstance(message, str) else json.dumps(message))
            except ConnectionClosed:
                sock.closed = True
            except Exception:
                log.exception("fake Deriv could not send")
            finally:
                sock.outbox.task_done()

    def _enqueue(self, sock: Socket, sub, message) -> None:
        if self._suppress is sock:
            return
        if self._current_delay:
            self.loop.call_later(self._current_delay, sock.outbox.put_nowait, (sub, message))
        else:
            sock.outbox.put_nowait((sub, message))

    def _close_idle_sockets(self) -> None:
        if not self.inactivity_timeout:
            return
        limit = time.monotonic() - self.inactivity_timeout
        for sock in list(self.sockets):
            if not sock.closed and sock.last_recv < limit:
                sock.closed = True
                asyncio.ensure_future(sock.ws.close(1000, "inactivity"))

    # ------------------------------------------------------------------ HTTP transport

    async def _http_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            status, out_headers, out_body, delay = self._http_dispatch(method, target, headers, body)
            if delay:
                await asyncio.sleep(delay)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            writer.close()
            return
        reason = http.HTTPStatus(status).phrase
        head_lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(out_body)}", "Connection: close"]
        head_lines += [f"{k}: {v}" for k, v in out_headers.items()]
        writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + out_body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
