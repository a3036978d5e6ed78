"""A Deriv WebSocket client on websocket-client: one reading thread, calls correlated by req_id.

    client = DerivClient(url_provider=lambda: rest.otp_url(account_id))   # or DerivClient(public_url)
    client.connect()
    answer = client.call({"proposal": 1, ...})                # dict, or a typed DerivError
    sub = client.subscribe({"ticks": "R_100"}, on_tick)       # on_tick(message) on the reading thread
    client.forget(sub)
    client.close()

After a dropped socket it reconnects with exponential backoff and jitter, asks
`url_provider` for a fresh OTP URL (an OTP works once), and re-subscribes every
live stream (a bought contract's stream as `proposal_open_contract`, never by
buying again). A `buy` whose answer never came raises UncertainPurchase and is
not retried: the caller checks open contracts first. Deriv's transport quirks are
normalised on arrival (a `req_id` echoed as a string, a message without `msg_type`),
and a message nobody waits for and no known stream claims (a late buy answer, a
contract update under an unknown subscription id) goes to `on_unmatched`. Our own
limits keep us under Deriv's: 100 requests/s and 100 subscriptions per socket, and
the per-minute groups of apps.deriv.budget (`client.budget`; polls give way first,
and a group Deriv answered RateLimit for cools off a minute).
"""

import contextlib
import itertools
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

import websocket

from . import adapter
from .budget import Budget, is_poll, socket_budget
from .errors import (
    DerivAuthError,
    DerivError,
    DerivTimeout,
    Disconnected,
    HandshakeRefused,
    RateLimit,
    TooManySubscriptions,
    UncertainPurchase,
    from_ws,
    redact,
)

log = logging.getLogger(__name__)

Callback = Callable[[dict], None]

CONNECTING, CONNECTED, RECONNECTING, FAILED, CLOSED = "connecting", "connected", "reconnecting", "failed", "closed"


class RequestRateLimiter:
    """At most `per_second` sends in any one-second window; `acquire` waits for room."""

    def __init__(self, per_second: int, *, clock=time.monotonic, sleep=time.sleep):
        self.per_second = per_second
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> bool:
        deadline = self._clock() + timeout
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= 1.0:
                    self._sent.popleft()
                if len(self._sent) < self.per_second:
                    self._sent.append(now)
                    return True
                wait = 1.0 - (now - self._sent[0])
            if now + wait > deadline:
                return False
            self._sleep(wait)


class Subscription:
    """A live stream: `id` is Deriv's subscription id on the current socket (it changes after a reconnect)."""

    def __init__(self, client: "DerivClient", request: dict, callback: Callback, on_error):
        self._client = client
        self.request = request
        self.callback = callback
        self.on_error = on_error
        self.id: str | None = None
        self.first_response: dict | None = None
        self.active = True

    def __repr__(self) -> str:
        method = adapter_method(self.request)
        return f"<Subscription {method} id={self.id}>"


class _Pending:
    __slots__ = ("req_id", "method", "event", "response", "error", "subscription", "background")

    def __init__(self, req_id: int, method: str, subscription: Subscription | None, background: bool):
        self.req_id = req_id
        self.method = method
        self.event = threading.Event()
        self.response: dict | None = None
        self.error: DerivError | None = None
        self.subscription = subscription
        self.background = background  # a re-subscription nobody waits for


def adapter_method(request: dict) -> str:
    for key in request:
        if key not in ("req_id", "passthrough", "subscribe"):
            return key
    return "?"


class DerivClient:
    """One Deriv WebSocket (public, or an account's OTP socket) shared by many callers."""

    def __init__(
        self,
        url: str | None = None,
        *,
        url_provider: Callable[[], str] | None = None,
        name: str = "deriv",
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        ping_interval: float | None = 30.0,
        ping_timeout: float = 10.0,
        reconnect: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        backoff_factor: float = 2.0,
        max_requests_per_second: int = 100,
        max_subscriptions: int = 100,
        on_state: Callable[[str, str], None] | None = None,
        jitter: Callable[[], float] = random.random,
        budget: Budget | None = None,
        on_unmatched: Callback | None = None,
    ):
        if (url is None) == (url_provider is None):
            raise ValueError("give either url or url_provider")
        self._url = url
        self._url_provider = url_provider
        self.name = name
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect = reconnect
        self.backoff_initial, self.backoff_max, self.backoff_factor = backoff_initial, backoff_max, backoff_factor
        self.max_subscriptions = max_subscriptions
        self._limiter = RequestRateLimiter(max_requests_per_second)
        self.budget = budget or socket_budget(name=name)
        self._on_state = on_state
        self._jitter = jitter
        # Messages no pending call or known stream claims (a late buy answer, a contract update under a
        # subscription id we never saw): given to this on the reading thread, for routing by content.
        self._on_unmatched = on_unmatched

        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._ws: websocket.WebSocket | None = None
        self._pending: dict[int, _Pending] = {}
        self._subscriptions: list[Subscription] = []  # what we want streamed, in subscription order
        self._by_sub_id: dict[str, Subscription] = {}
        self._by_req_id: dict[int, Subscription] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._pinger: threading.Thread | None = None
        self.state = "new"
        self.state_reason = ""
        self.connections = 0  # sockets opened so far (1 + reconnects)

    # ------------------------------------------------------------------ lifecycle

    def connect(self) -> "DerivClient":
        """Open the socket (raising if the first attempt fails) and start the reading and ping threads."""
        self._set_state(CONNECTING, "")
        self._open()
        self._reader = threading.Thread(target=self._run, name=f"{self.name}-reader", daemon=True)
        self._reader.start()
        if self.ping_interval:
            self._pinger = threading.Thread(target=self._ping_loop, name=f"{self.name}-ping", daemon=True)
            self._pinger.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._set_state(CLOSED, "closed by us")
        with self._lock:
            ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):  # closing a dead socket is fine
                ws.send_close()
            self._abort(ws)
        for thread in (self._reader, self._pinger):
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
        self._fail_pending("client closed")

    def __enter__(self) -> "DerivClient":
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions)

    # ------------------------------------------------------------------ calls

    def call(self, request: dict, timeout: float | None = None) -> dict:
        """Send one request and return Deriv's answer, or raise its error as a typed DerivError.

        A `buy` that may have reached Deriv but got no answer raises UncertainPurchase.
        """
        pending = self._send(request, timeout=timeout)
        return self._wait(pending, timeout)

    def buy(self, request: dict, callback: Callback | None = None, *, on_error=None, timeout=None):
        """Buy; with a callback, the contract's updates stream to it (and survive reconnects).

        Returns (answer, Subscription | None). Never retried.
        """
        if callback is None:
            request = {k: v for k, v in request.items() if k != "subscribe"}
            return self.call(request, timeout), None
        sub = self._subscribe({**request, "subscribe": 1}, callback, on_error, timeout)
        return sub.first_response, sub

    def subscribe(self, request: dict, callback: Callback, *, on_error=None, timeout=None) -> Subscription:
        """Start a stream; `callback` gets every message of it, the first answer included.

        `on_error(exc)` is told if the stream later fails (for example after a reconnect).
        """
        if "buy" in request:
            raise ValueError("use buy() to buy")
        return self._subscribe({**request, "subscribe": 1}, callback, on_error, timeout)

    def _subscribe(self, request, callback, on_error, timeout) -> Subscription:
        sub = Subscription(self, request, callback, on_error)
        with self._lock:
            if len(self._subscriptions) >= self.max_subscriptions:
                raise TooManySubscriptions(f"already {len(self._subscriptions)} streams on this socket")
            self._subscriptions.append(sub)
        try:
            pending = self._send(request, subscription=sub, timeout=timeout)
            self._wait(pending, timeout)
        except BaseException:
            self._drop_subscription(sub)
            raise
        return sub

    def forget(self, sub: Subscription, timeout: float | None = None) -> bool:
        """Stop a stream; no callback runs for it after this returns. True if Deriv had it live."""
        sub_id = self._drop_subscription(sub)
        if sub_id is None or not self.connected:
            return False
        try:
            answer = self.call(adapter.forget_request(sub_id), timeout)
        except Disconnected:
            return False
        return answer.get("forget") == 1

    # ------------------------------------------------------------------ sending and waiting

    def _send(self, request: dict, *, subscription=None, timeout=None, background=False) -> _Pending:
        timeout = self.request_timeout if timeout is None else timeout
        method = adapter_method(request)
        if not background and threading.current_thread() is self._reader:
            # Only the reading thread can deliver the answer: waiting for it there would hang.
            raise RuntimeError("a subscription callback must not call Deriv and wait; hand the work to another thread")
        if not background and not self._connected.wait(timeout):
            raise Disconnected(f"{self.name}: not connected ({self.state_reason or self.state})")
        # The reading thread (re-subscribing) never waits for room: it would stop every stream meanwhile.
        self.budget.take(method, poll=is_poll(method, request), timeout=0.0 if background else timeout)
        if not self._limiter.acquire(timeout):
            raise RateLimit(f"{self.name}: our own limit of {self._limiter.per_second} requests/s", code="RateLimit")
        req_id = next(self._ids)
        pending = _Pending(req_id, method, subscription, background)
        message = json.dumps({**request, "req_id": req_id})
        with self._lock:
            ws = self._ws
            if ws is None:
                raise Disconnected(f"{self.name}: not connected")
            self._pending[req_id] = pending
            if subscription is not None:
                self._by_req_id[req_id] = subscription
        try:
            with self._send_lock:
                ws.send(message)
        except Exception as exc:  # any send failure means the socket is gone
            with self._lock:
                self._pending.pop(req_id, None)
            self._abort(ws)
            reason = f"{self.name}: send failed ({type(exc).__name__})"
            if method == "buy":
                # Part of the frame may have left: Deriv may have the order.
                raise UncertainPurchase(reason, request=request) from None
            raise Disconnected(reason) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s", self.name, redact(message)[:300])
        return pending

    def _wait(self, pending: _Pending, timeout: float | None) -> dict:
        timeout = self.request_timeout if timeout is None else timeout
        if not pending.event.wait(timeout):
            with self._lock:
                self._pending.pop(pending.req_id, None)
            if pending.method == "buy":
                raise UncertainPurchase(f"{self.name}: no answer to buy within {timeout}s")
            raise DerivTimeout(f"{self.name}: no answer to {pending.method} within {timeout}s")
        if pending.error is not None:
            raise pending.error
        return pending.response

    def _drop_subscription(self, sub: Subscription) -> str | None:
        with self._lock:
            sub.active = False
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)
            sub_id = sub.id
            if sub_id is not None:
                self._by_sub_id.pop(sub_id, None)
            for req_id, other in list(self._by_req_id.items()):
                if other is sub:
                    del self._by_req_id[req_id]
            return sub_id

    # ------------------------------------------------------------------ reading

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ws = self._ws
            reason = self._read(ws) if ws is not None else "no socket"
            self._lost(ws, reason)
            if self._stop.is_set() or not self.reconnect:
                if not self._stop.is_set():
                    self._set_state(FAILED, reason)
                return
            if not self._reconnect(reason):
                return

    def _read(self, ws: websocket.WebSocket) -> str:
        while True:
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketConnectionClosedException:
                return "connection closed"
            except Exception as exc:  # socket errors of every kind end this socket
                return f"connection lost ({type(exc).__name__})"
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                return f"closed by Deriv (code {code})"
            if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                continue
            try:
                self._dispatch(data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
            except Exception:
                log.exception("%s: failed to handle a message", self.name)

    def _dispatch(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        msg_type = adapter.message_type(message) if isinstance(message, dict) else None
        if msg_type is None:
            log.warning("%s: ignored a malformed message from Deriv: %s", self.name, redact(text)[:200])
            return
        # Deriv's quirks, normalised once for every reader: no msg_type (the body names it), req_id as a string.
        message["msg_type"] = msg_type
        req_id = adapter.request_id(message)
        if req_id is not None:
            message["req_id"] = req_id
        sub_id = adapter.subscription_id(message)
        if isinstance(message.get("error"), dict) and message["error"].get("code") == "RateLimit":
            self.budget.refused(message["msg_type"])  # before anyone waiting hears of it
        with self._lock:
            pending = self._pending.pop(req_id, None) if req_id is not None else None
            sub = self._by_sub_id.get(sub_id) if sub_id else None
            overtaken = pending is not None and pending.method == "buy" and message["msg_type"] != "buy"
            if overtaken and "error" not in message:
                # The bought contract's stream (same req_id) overtook the buy's answer: an update, not the answer.
                self._pending[req_id] = pending
                sub, pending = pending.subscription, None
            elif pending is not None and pending.subscription is not None:
                sub = pending.subscription
                if sub.active and sub_id and "error" not in message:
                    sub.id = sub_id
                    self._by_sub_id[sub_id] = sub
                if pending.method == "buy" and isinstance(message.get("buy"), dict):
                    # Set here, on the reading thread, before any reconnect can re-send it: a bought
                    # contract is followed again with proposal_open_contract, never bought again.
                    sub.request = adapter.open_contract_request(message["buy"].get("contract_id"))
            elif sub is None and req_id is not None and "error" in message:
                sub = self._by_req_id.get(req_id)  # a stream that failed later
            if sub is not None and not sub.active:
                sub = None
        if pending is not None:
            self._answer(pending, sub, message)
        elif sub is not None:
            if "error" in message:
                self._stream_failed(sub, from_ws(message))
            else:
                self._deliver(sub, message)
        elif self._on_unmatched is not None and "error" not in message:
            try:
                self._on_unmatched(message)
            except Exception:
                log.exception("%s: the unmatched-message callback failed", self.name)
        else:
            log.debug("%s: unmatched %s message ignored", self.name, message["msg_type"])

    def _answer(self, pending: _Pending, sub: Subscription | None, message: dict) -> None:
        if "error" in message:
            pending.error = from_ws(message)
            if sub is not None and pending.background:
                self._stream_failed(sub, pending.error)
        else:
            pending.response = message
            if sub is not None:
                if sub.first_response is None:
                    sub.first_response = message
                self._deliver(sub, message)
        pending.event.set()

    def _deliver(self, sub: Subscription, message: dict) -> None:
        try:
            sub.callback(message)
        except Exception:
            log.exception("%s: a subscription callback failed", self.name)

    def _stream_failed(self, sub: Subscription, error: DerivError) -> None:
        self._drop_subscription(sub)
        log.warning("%s: stream %s ended with %s", self.name, adapter_method(sub.request), error.code)
        if sub.on_error is not None:
            try:
                sub.on_error(error)
            except Exception:
                log.exception("%s: a subscription error callback failed", self.name)

    # ------------------------------------------------------------------ connecting

    def _open(self) -> None:
        url = self._url_provider() if self._url_provider else self._url
        try:
            ws = websocket.create_connection(url, timeout=self.connect_timeout, enable_multithread=True)
        except websocket.WebSocketBadStatusException as exc:
            raise HandshakeRefused(
                f"{self.name}: Deriv refused the socket with HTTP {exc.status_code}", status=exc.status_code
            ) from None
        except Exception as exc:  # unreachable, refused, DNS, TLS…
            raise Disconnected(f"{self.name}: cannot connect ({type(exc).__name__})") from None
        ws.settimeout(None)  # the reader blocks; the ping loop notices a dead peer
        if self._stop.is_set():  # closed while we were connecting
            self._abort(ws)
            raise Disconnected(f"{self.name}: client closed")
        with self._lock:
            self._ws = ws
            self.connections += 1
        self._connected.set()
        self._set_state(CONNECTED, "")
        log.info("%s: connected (socket %d)", self.name, self.connections)

    def _lost(self, ws, reason: str) -> None:
        self._connected.clear()
        self._abort(ws)
        with self._lock:
            if self._ws is ws:
                self._ws = None
            self._by_sub_id.clear()
            self._by_req_id.clear()
            for sub in self._subscriptions:
                sub.id = None
        self._fail_pending(reason)
        if not self._stop.is_set():
            log.warning("%s: %s", self.name, reason)

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for p in pending:
            if p.method == "buy":
                p.error = UncertainPurchase(f"{self.name}: socket lost before the buy answer ({reason})")
            else:
                p.error = Disconnected(f"{self.name}: {reason}")
            if p.subscription is not None and not p.background:
                self._drop_subscription(p.subscription)
            p.event.set()

    def _reconnect(self, reason: str) -> bool:
        attempt = 0
        while not self._stop.is_set():
            delay = self.backoff_delay(attempt)
            attempt += 1
            self._set_state(RECONNECTING, reason)
            if self._stop.wait(delay):
                return False
            try:
                self._open()
            except DerivAuthError as exc:
                # The token behind url_provider is expired, revoked or lacks a scope: a person must act.
                self._set_state(FAILED, f"{exc.code}: {exc.message}")
                log.warning("%s: giving up reconnecting: %s", self.name, exc.code)
                return False
            except Exception as exc:  # keep trying with backoff
                reason = exc.message if isinstance(exc, DerivError) else type(exc).__name__
                log.warning("%s: reconnect attempt %d failed: %s", self.name, attempt, redact(reason))
                continue
            self._resubscribe()
            return True
        return False

    def backoff_delay(self, attempt: int) -> float:
        """Exponential, capped, with "equal jitter": between half and all of the step, so that
        many clients dropped together do not all come back in the same instant."""
        step = min(self.backoff_max, self.backoff_initial * self.backoff_factor**attempt)
        return step / 2 + self._jitter() * step / 2

    def _resubscribe(self) -> None:
        with self._lock:
            wanted = list(self._subscriptions)
        for sub in wanted:
            if "buy" in sub.request:  # only possible if the buy never answered: it is not ours to repeat
                self._drop_subscription(sub)
                continue
            try:
                self._send(sub.request, subscription=sub, background=True)
            except DerivError as exc:
                log.warning("%s: re-subscribing failed: %s", self.name, exc.code)
                return
        log.info("%s: re-subscribed %d streams", self.name, len(wanted))

    def _abort(self, ws) -> None:
        if ws is None:
            return
        with contextlib.suppress(Exception):
            ws.shutdown()

    # ------------------------------------------------------------------ keep-alive and state

    def _ping_loop(self) -> None:
        while not self._stop.wait(self.ping_interval):
            if not self._connected.is_set():
                continue
            with self._lock:
                ws = self._ws
            try:
                self.call(adapter.ping_request(), timeout=self.ping_timeout)
            except DerivTimeout:
                log.warning("%s: no pong within %ss, dropping the socket", self.name, self.ping_timeout)
                self._abort(ws)
            except DerivError:
                pass

    def _set_state(self, state: str, reason: str) -> None:
        if self.state == CLOSED and state != CLOSED:
            return
        changed = (state, reason) != (self.state, self.state_reason)
        self.state, self.state_reason = state, reason
        if changed and self._on_state is not None:
            try:
                self._on_state(state, reason)
            except Exception:
                log.exception("%s: state callback failed", self.name)
