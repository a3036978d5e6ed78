"""FakeExchange: the part of Binance's spot REST API that ccxt's `binance` class uses, on 127.0.0.1.

A real HTTP server in a thread. Point an unmodified `ccxt.binance` at it with `ccxt_config(fake.url, key,
secret)`: it overrides every `urls["api"]` section ccxt 4.5.90 knows (public, private, v1, sapi…, and the
futures/options ones, which the fake answers 404) and sets the options that keep ccxt on spot:

    options={"fetchMarkets": {"types": ["spot"]},  # only GET /api/v3/exchangeInfo in load_markets()
             "fetchCurrencies": False,              # no signed GET /sapi/v1/capital/config/getall
             "fetchMargins": False}                 # no /sapi/v1/margin/allPairs, /margin/isolated/allPairs

Endpoints (weights as Binance counts them, per IP and per minute of wall time, in
`X-MBX-USED-WEIGHT-1M`; sapi in its own `X-SAPI-USED-IP-WEIGHT-1M`):
GET /api/v3/ping 1, /time 1, /exchangeInfo 20, /klines 2, /ticker/24hr 2 (one symbol; 40 or 80 for
more), /ticker/price 2 (4 for all); signed: GET /api/v3/account 20, POST /api/v3/order 1, GET order 4,
DELETE order 1, GET /openOrders 6 (80 without symbol), /allOrders 20, /myTrades 20 (5 with orderId),
GET /sapi/v1/account/apiRestrictions 1. Over `weight_limit` (6000): HTTP 429 with -1003.

Two clocks. The market clock (`fake.clock`, epoch seconds, frozen unless `frozen=False`; `advance()`)
drives candles, tickers, fill prices and the times of orders and trades. Wall time drives what is
about the transport: `timestamp`/`recvWindow` (-1021), /api/v3/time, exchangeInfo's serverTime and
the rate-limit minutes.

Signed requests: `X-MBX-APIKEY` names a key made by `add_key()`; `signature` is the hex HMAC-SHA256
of the query string followed by the body, without the signature itself. Errors are Binance's
`{"code", "msg"}` with its HTTP status (401 for -2014/-2015, 429 for -1003, 400 otherwise).

Orders: MARKET (quantity or quoteOrderQty) fills at once at the last price (the close of the candle
the market clock is in). LIMIT / LIMIT_MAKER that would cross fill at once at the last price (a
LIMIT_MAKER is refused); the others rest, locking their funds, and fill at their price as soon as a
1m candle's low (buy) or high (sell) reaches it. Commission: 0.1% of what is received, in that asset.
Filters are checked as Binance does: PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL (5 USDT), then
the balance. A `newClientOrderId` is refused as "Duplicate order sent." while an order of that symbol
with that id exists that is not FILLED; after a fill Binance, and the fake, accept it again. Looked up
by `origClientOrderId`, the newest order with that id answers. GET /myTrades allows 24 hours between
startTime and endTime; with only one of them, the other is 24 hours away.

Controls: `partial_fill_next(fraction)` (a MARKET order fills that fraction and ends EXPIRED, as
Binance's market orders do when the book runs out; a LIMIT order fills it and stays open,
PARTIALLY_FILLED), `reject_next(code, msg)`, `rate_limit_next(n)`, `delay(seconds)` (every answer
leaves that much later; the request is carried out first), `drop_next_order_answer()` (the order is
carried out, the connection is closed unanswered), `unreachable(True)` (connections are closed
unanswered; `status=503` answers 503 instead), `calls` / `call_count(path)`, `orders_for(key)`.
"""

import json
import logging
import threading
import time
from collections import namedtuple
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .api import ROUTES, BinanceApi, BinanceError, Key, Order, Route, Trade, order_view
from .market import Candles

log = logging.getLogger("tests.fakes.exchange")

DEFAULT_START = 1_700_000_040  # a minute boundary: frozen-clock tests all see the same candles

# ccxt 4.5.90's binance urls["api"]: section → path on Binance's hosts.
API_PATHS = {
    "public": "/api/v3", "private": "/api/v3", "v1": "/api/v1",
    "sapi": "/sapi/v1", "sapiV2": "/sapi/v2", "sapiV3": "/sapi/v3", "sapiV4": "/sapi/v4",
    "dapiPublic": "/dapi/v1", "dapiPrivate": "/dapi/v1", "dapiPrivateV2": "/dapi/v2", "dapiData": "/futures/data",
    "fapiPublic": "/fapi/v1", "fapiPublicV2": "/fapi/v2", "fapiPublicV3": "/fapi/v3", "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2", "fapiPrivateV3": "/fapi/v3", "fapiData": "/futures/data",
    "eapiPublic": "/eapi/v1", "eapiPrivate": "/eapi/v1", "papi": "/papi/v1", "papiV2": "/papi/v2",
}  # fmt: skip


def ccxt_config(base_url: str, api_key: str | None = None, secret: str | None = None) -> dict:
    """The `ccxt.binance(...)` constructor config that talks to the fake at `base_url`, spot only."""
    config = {
        "urls": {"api": {name: base_url.rstrip("/") + path for name, path in API_PATHS.items()}},
        "enableRateLimit": True,
        "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False},
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    return config


def _symbol_id(symbol: str) -> str:
    return symbol.replace("/", "")


Call = namedtuple("Call", "method path params")  # params without the signature


class FakeExchange(BinanceApi):
    """A stand-in for api.binance.com (spot), started and stopped from Python."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        clock_start: float | None = DEFAULT_START,
        frozen: bool = True,
        weight_limit: int = 6000,
        sapi_weight_limit: int = 12000,
    ):
        self.host, self.port = host, port
        self.weight_limit, self.sapi_weight_limit = weight_limit, sapi_weight_limit
        self.lock = threading.RLock()
        self._clock = time.time() if clock_start is None else float(clock_start)
        self._running_since = None if frozen else time.monotonic()
        self.candles = Candles(seed, int(self._clock // 60))
        self.keys: dict[str, Key] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.calls: list[Call] = []
        self._weights: dict[tuple[str, str], int] = {}
        self._weight_minute = 0
        self._next_order_id, self._next_trade_id = 10_000_001, 500_000_001
        self._partial: Decimal | None = None
        self._rejects: list[tuple[BinanceError, str | None]] = []
        self._rate_limited = 0
        self._drop_order_answer = False
        self.delay_seconds = 0.0
        self.is_unreachable = False
        self.unreachable_answer: int | None = None  # None: connections are cut; 503: answered with it
        self._server = None
        self._thread = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "FakeExchange":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-exchange", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ccxt_config(self, api_key: str | None = None, secret: str | None = None) -> dict:
        return ccxt_config(self.url, api_key, secret)

    # --- the market clock and prices -------------------------------------------------------------------

    @property
    def clock(self) -> float:
        """The market clock, in epoch seconds."""
        with self.lock:
            if self._running_since is None:
                return self._clock
            return self._clock + time.monotonic() - self._running_since

    @clock.setter
    def clock(self, value: float) -> None:
        with self.lock:
            self._clock = float(value)
            if self._running_since is not None:
                self._running_since = time.monotonic()
            self._match_resting()

    @property
    def clock_ms(self) -> int:
        return int(self.clock * 1000)

    def advance(self, seconds: float) -> None:
        """Move the market clock on; resting orders the prices reach on the way fill."""
        with self.lock:
            self.clock = self.clock + seconds

    def price(self, symbol: str) -> Decimal:
        """The last price: the close of the candle the market clock is in."""
        with self.lock:
            return self.candles.price(_symbol_id(symbol), self.clock_ms)

    def set_candles(self, symbol: str, timeframe: str, rows) -> None:
        """Recorded [open_ms, open, high, low, close, volume] rows that replace the generated candles."""
        with self.lock:
            self.candles.record(_symbol_id(symbol), timeframe, rows)
            self._match_resting()

    def set_price(self, symbol: str, price) -> None:
        """A flat 1m candle at `price` for the minute the clock is in."""
        minute = self.clock_ms // 60_000 * 60_000
        self.set_candles(symbol, "1m", [[minute, price, price, price, price, 0]])

    # --- keys and balances -----------------------------------------------------------------------------

    def add_key(self, api_key, secret, balances=None, *, can_trade=True, can_withdraw=False, can_read=True) -> Key:
        """An API key of an account holding `balances` ({"USDT": "10000"}), with those permissions."""
        with self.lock:
            held = {asset: [Decimal(str(amount)), Decimal(0)] for asset, amount in (balances or {}).items()}
            key = Key(api_key, secret, held, can_trade, can_withdraw, can_read, self.clock_ms, self.clock_ms)
            self.keys[api_key] = key
            return key

    def set_balance(self, api_key: str, asset: str, free) -> None:
        with self.lock:
            self.keys[api_key].balances.setdefault(asset, [Decimal(0), Decimal(0)])[0] = Decimal(str(free))

    def balances_of(self, api_key: str) -> dict[str, tuple[Decimal, Decimal]]:
        """Asset → (free, locked)."""
        with self.lock:
            return {asset: (free, locked) for asset, (free, locked) in self.keys[api_key].balances.items()}

    def orders_for(self, api_key: str) -> list[dict]:
        """The key's orders, oldest first, as GET /api/v3/order shows them."""
        with self.lock:
            return [order_view(o) for o in self.orders.values() if o.key == api_key]

    # --- controls --------------------------------------------------------------------------------------

    def partial_fill_next(self, fraction) -> None:
        with self.lock:
            self._partial = Decimal(str(fraction))

    def reject_next(self, code: int, msg: str, *, path: str | None = None, status: int | None = None) -> None:
        """The next request (to `path`, if given) is answered with this error and not carried out."""
        with self.lock:
            self._rejects.append((BinanceError(code, msg, status), path))

    def rate_limit_next(self, n: int = 1) -> None:
        with self.lock:
            self._rate_limited += n

    def delay(self, seconds: float) -> None:
        self.delay_seconds = seconds

    def drop_next_order_answer(self) -> None:
        with self.lock:
            self._drop_order_answer = True

    def unreachable(self, on: bool = True, *, status: int | None = None) -> None:
        self.is_unreachable, self.unreachable_answer = on, status

    def call_count(self, path: str, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c.path == path and method in (None, c.method))

    def used_weight(self, ip: str = "127.0.0.1", *, sapi: bool = False) -> int:
        with self.lock:
            minute = int(time.time() // 60)
            return self._weights.get((ip, "sapi" if sapi else "api"), 0) if minute == self._weight_minute else 0

    # --- requests --------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, body: str, api_key: str | None, ip: str):
        """(status, payload, headers) for one request, or None to close the connection unanswered."""
        params = dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(body, keep_blank_values=True))
        with self.lock:
            self.calls.append(Call(method, path, {k: v for k, v in params.items() if k != "signature"}))
            route = ROUTES.get((method, path))
            if route is None:
                return 404, None, {}
            header, used, limit = self._count(route, params, ip)
            headers = {header: str(used)}
            try:
                if self._rate_limited or used > limit:
                    self._rate_limited = max(0, self._rate_limited - 1)
                    headers["Retry-After"] = str(60 - int(time.time()) % 60)
                    raise BinanceError(
                        -1003,
                        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
                        "Please use WebSocket Streams for live updates to avoid polling the API.",
                    )
                self._match_resting()
                for index, (error, only) in enumerate(self._rejects):
                    if only in (None, path):
                        del self._rejects[index]
                        raise error
                key = self._authenticate(route, params, query, body, api_key) if route.signed else None
                payload = getattr(self, "_api_" + route.handler)(params, key)
            except BinanceError as error:
                return error.status, {"code": error.code, "msg": error.msg}, headers
            if route.handler == "new_order" and self._drop_order_answer:
                self._drop_order_answer = False
                return None
            return 200, payload, headers

    def _count(self, route: Route, params: dict, ip: str) -> tuple[str, int, int]:
        minute = int(time.time() // 60)
        if minute != self._weight_minute:
            self._weights, self._weight_minute = {}, minute
        bucket = "sapi" if route.sapi else "api"
        weight = route.weight(params) if callable(route.weight) else route.weight
        used = self._weights[(ip, bucket)] = self._weights.get((ip, bucket), 0) + weight
        if route.sapi:
            return "X-SAPI-USED-IP-WEIGHT-1M", used, self.sapi_weight_limit
        return "X-MBX-USED-WEIGHT-1M", used, self.weight_limit


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended badly", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeExchange
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 — the base class's name
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self):  # noqa: N802 — http.server's names
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def do_PUT(self):  # noqa: N802
        self._answer("PUT")

    def do_DELETE(self):  # noqa: N802
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if fake.is_unreachable and fake.unreachable_answer is None:
            self.close_connection = True
            return
        if fake.is_unreachable:
            self._send(fake.unreachable_answer, b"Service Unavailable", "text/plain")
            return
        split = urlsplit(self.path)
        api_key, ip = self.headers.get("X-MBX-APIKEY"), self.client_address[0]
        answer = fake.handle(method, split.path, split.query, body, api_key, ip)
        if fake.delay_seconds:
            time.sleep(fake.delay_seconds)
        if answer is None:
            self.close_connection = True
            return
        status, payload, headers = answer
        if payload is None:
            self._send(status, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html", headers)
            return
        self._send(status, json.dumps(payload).encode(), "application/json;charset=UTF-8", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
