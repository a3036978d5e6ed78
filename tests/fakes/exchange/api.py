"""The Binance spot endpoints the fake answers: the routes with their request weights, and their handlers.

`BinanceApi` is a mixin of FakeExchange: its `_api_<name>(params, key)` methods run under the fake's lock
and answer the JSON Binance answers, or raise BinanceError with Binance's code, message and HTTP status.
"""

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections import namedtuple
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from .market import EIGHT, INTERVALS, MIN_NOTIONAL, ORDER_TYPES, QUOTE, SPECS, exchange_symbol, fmt

COMMISSION = Decimal("0.001")
DAY_MS = 86_400_000
INVALID_KEY = "Invalid API-key, IP, or permissions for action."
OPEN = ("NEW", "PARTIALLY_FILLED")
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
ORDER_PARAMS = {
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
    "strategyId", "strategyType", "stopPrice", "trailingDelta", "icebergQty", "newOrderRespType",
    "selfTradePreventionMode", "recvWindow", "timestamp", "signature",
}  # fmt: skip

Route = namedtuple("Route", "handler weight signed trade sapi", defaults=(False, False, False))


def sign(secret: str, payload: str) -> str:
    """Binance's HMAC-SHA256 signature of a request's query string followed by its body."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int | None = None):
        super().__init__(msg)
        self.code, self.msg = code, msg
        self.status = status or {-1003: 429, -2014: 401, -2015: 401}.get(code, 400)


def _mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def _illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def _filter(name: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {name}")


def _ticker_weight(params: dict) -> int:
    if params.get("symbol"):
        return 2
    count = len(json.loads(params["symbols"])) if params.get("symbols", "").startswith("[") else 1000
    return 2 if count <= 20 else 40 if count <= 100 else 80


ROUTES = {
    ("GET", "/api/v3/ping"): Route("ping", 1),
    ("GET", "/api/v3/time"): Route("time", 1),
    ("GET", "/api/v3/exchangeInfo"): Route("exchange_info", 20),
    ("GET", "/api/v3/klines"): Route("klines", 2),
    ("GET", "/api/v3/ticker/24hr"): Route("ticker_24hr", _ticker_weight),
    ("GET", "/api/v3/ticker/price"): Route("ticker_price", lambda p: 2 if p.get("symbol") else 4),
    ("GET", "/api/v3/account"): Route("account", 20, True),
    ("POST", "/api/v3/order"): Route("new_order", 1, True, True),
    ("GET", "/api/v3/order"): Route("get_order", 4, True),
    ("DELETE", "/api/v3/order"): Route("cancel_order", 1, True, True),
    ("GET", "/api/v3/openOrders"): Route("open_orders", lambda p: 6 if p.get("symbol") else 80, True),
    ("GET", "/api/v3/allOrders"): Route("all_orders", 20, True),
    ("GET", "/api/v3/myTrades"): Route("my_trades", lambda p: 5 if p.get("orderId") else 20, True),
    ("GET", "/sapi/v1/account/apiRestrictions"): Route("api_restrictions", 1, True, sapi=True),
}


@dataclass
class Key:
    api_key: str
    secret: str
    balances: dict[str, list[Decimal]]  # asset → [free, locked]
    can_trade: bool = True
    can_withdraw: bool = False
    can_read: bool = True
    created: int = 0  # ms, market clock
    updated: int = 0


@dataclass
class Order:
    id: int
    key: str
    symbol: str
    client_id: str
    side: str
    type: str
    tif: str
    price: Decimal  # 0 for MARKET
    qty: Decimal
    quote_qty: Decimal  # origQuoteOrderQty
    time: int
    reserved: Decimal = Decimal(0)  # still locked for this order (quote for buys, base for sells)
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    update: int = 0
    checked: int = 0  # last 1m candle compared with a resting price
    fills: list = field(default_factory=list)


@dataclass
class Trade:
    id: int
    order: Order
    price: Decimal
    qty: Decimal
    commission: Decimal
    asset: str
    time: int
    maker: bool


class BinanceApi:
    """The endpoints; FakeExchange supplies the state (keys, orders, trades, candles, clock)."""

    def _authenticate(self, route: Route, params: dict, query: str, body: str, api_key: str | None) -> Key:
        if not api_key:
            raise BinanceError(-2014, "API-key format invalid.")
        key = self.keys.get(api_key)
        if key is None:
            raise BinanceError(-2015, INVALID_KEY)
        for name in ("timestamp", "signature"):
            if not params.get(name):
                raise _mandatory(name)
        unsigned = ("&".join(p for p in part.split("&") if not p.startswith("signature=")) for part in (query, body))
        payload = "".join(unsigned)
        if not hmac.compare_digest(sign(key.secret, payload).encode(), params["signature"].lower().encode()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        timestamp, window = _integer(params, "timestamp"), _decimal(params, "recvWindow", Decimal(5000))
        if window > 60000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = int(time.time() * 1000)
        if timestamp >= now + 1000:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - timestamp > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        if not key.can_read or (route.trade and not key.can_trade):
            raise BinanceError(-2015, INVALID_KEY)
        return key

    # --- market data -----------------------------------------------------------------------------------

    def _api_ping(self, params, key):
        return {}

    def _api_time(self, params, key):
        return {"serverTime": int(time.time() * 1000)}

    def _api_exchange_info(self, params, key):
        symbols = self._symbols(params) or list(SPECS)
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.weight_limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [exchange_symbol(SPECS[s]) for s in symbols],
        }

    def _api_klines(self, params, key):
        symbol = self._symbol(params)
        interval = params.get("interval") or _raise(_mandatory("interval"))
        if interval not in INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = min(max(_integer(params, "limit", 500), 1), 1000)
        start, end = _integer(params, "startTime", None), _integer(params, "endTime", None)
        candles = self.candles.klines(symbol, interval, self.clock_ms, start=start, end=end, limit=limit)
        return [c.kline(INTERVALS[interval]) for c in candles]

    def _api_ticker_24hr(self, params, key):
        symbols = self._symbols(params)
        if symbols is None:
            return [self._ticker(s) for s in SPECS]
        return self._ticker(symbols[0]) if params.get("symbol") else [self._ticker(s) for s in symbols]

    def _ticker(self, symbol: str) -> dict:
        spec, now = SPECS[symbol], self.clock_ms
        first = (now - DAY_MS) // 60_000
        day = [self.candles.minute(symbol, m) for m in range(first + 1, now // 60_000 + 1)]
        last, opening = self.candles.price(symbol, now), day[0].open
        volume = sum((c.volume for c in day), Decimal(0))
        quote_volume = sum((c.quote_volume for c in day), Decimal(0))
        change = last - opening
        return {
            "symbol": symbol,
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / opening * 100).quantize(Decimal('0.001'), ROUND_HALF_UP):f}",
            "weightedAvgPrice": fmt(quote_volume / volume if volume else last),
            "prevClosePrice": fmt(self.candles.minute(symbol, first).close),
            "lastPrice": fmt(last),
            "lastQty": fmt(spec.step * 10),
            "bidPrice": fmt(last),
            "bidQty": fmt(spec.step * 1234),
            "askPrice": fmt(last + spec.tick),
            "askQty": fmt(spec.step * 987),
            "openPrice": fmt(opening),
            "highPrice": fmt(max(max(c.high for c in day), last)),
            "lowPrice": fmt(min(min(c.low for c in day), last)),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote_volume),
            "openTime": now - DAY_MS,
            "closeTime": now,
            "firstId": 3_000_000_000 + first,
            "lastId": 3_000_000_000 + first + len(day) * 40,
            "count": len(day) * 40 + 1,
        }

    def _api_ticker_price(self, params, key):
        symbols = self._symbols(params)
        rows = [{"symbol": s, "price": fmt(self.candles.price(s, self.clock_ms))} for s in symbols or SPECS]
        return rows[0] if params.get("symbol") else rows

    def _symbol(self, params: dict, required: bool = True) -> str | None:
        symbol = params.get("symbol")
        if not symbol:
            if required:
                raise _mandatory("symbol")
            return None
        if symbol not in SPECS:
            raise BinanceError(-1121, "Invalid symbol.")
        return symbol

    def _symbols(self, params: dict) -> list[str] | None:
        if params.get("symbol"):
            return [self._symbol(params)]
        if params.get("symbols"):
            try:
                names = json.loads(params["symbols"])
            except ValueError:
                raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.") from None
            return [self._symbol({"symbol": name}) for name in names]
        return None

    # --- account ---------------------------------------------------------------------------------------

    def _api_account(self, params, key):
        assets = [spec.base for spec in SPECS.values()] + [QUOTE]
        assets += [asset for asset in key.balances if asset not in assets]
        balances = [{"asset": a, "free": fmt(b[0]), "locked": fmt(b[1])} for a in assets for b in [_held(key, a)]]
        if params.get("omitZeroBalances") == "true":
            balances = [b for b in balances if Decimal(b["free"]) or Decimal(b["locked"])]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": fmt(COMMISSION), "taker": fmt(COMMISSION), "buyer": fmt(0), "seller": fmt(0)},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": key.updated,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 100_000_000 + list(self.keys).index(key.api_key),
        }

    def _api_api_restrictions(self, params, key):
        return {
            "ipRestrict": False,
            "createTime": key.created,
            "enableReading": key.can_read,
            "enableWithdrawals": key.can_withdraw,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enableSpotAndMarginTrading": key.can_trade,
            "enablePortfolioMarginTrading": False,
        }

    # --- orders ----------------------------------------------------------------------------------------

    def _api_new_order(self, params, key):
        unread = set(params) - ORDER_PARAMS
        if unread:
            read, sent = len(params) - len(unread), len(params)
            message = f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."
            raise BinanceError(-1104, message)
        spec = SPECS[self._symbol(params)]
        side, kind = params.get("side") or _raise(_mandatory("side")), params.get("type") or _raise(_mandatory("type"))
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if kind not in ("MARKET", "LIMIT", "LIMIT_MAKER"):
            if kind in ORDER_TYPES:
                raise BinanceError(-1020, "This operation is not supported.")
            raise BinanceError(-1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or _random_id()
        if not CLIENT_ID.match(client_id):
            raise _illegal("newClientOrderId", CLIENT_ID.pattern)
        last = self.candles.price(spec.symbol, self.clock_ms)
        qty, quote_qty, price, tif = self._order_terms(params, kind, spec, last)
        if any(
            o.client_id == client_id and o.symbol == spec.symbol and o.key == key.api_key and o.status != "FILLED"
            for o in self.orders.values()
        ):
            raise BinanceError(-2010, "Duplicate order sent.")
        crosses = kind != "MARKET" and (price >= last if side == "BUY" else price <= last)
        if kind == "LIMIT_MAKER" and crosses:
            raise BinanceError(-2010, "Order would immediately match and take.")
        base = spec.base
        asset, need = (QUOTE, quote_qty or qty * (price or last)) if side == "BUY" else (base, qty)
        if _held(key, asset)[0] < need:
            raise BinanceError(-2010, "Account has insufficient balance for requested action.")
        now = self.clock_ms
        order = Order(self._next_order_id, key.api_key, spec.symbol, client_id, side, kind, tif, price, qty,
                      quote_qty or Decimal(0), now, update=now, checked=now // 60_000)  # fmt: skip
        self._next_order_id += 1
        self.orders[order.id] = order
        _move(key, asset, need, to_locked=True)
        order.reserved = need
        partial, self._partial = self._partial, None
        fill_qty = qty if partial is None else (qty * partial).quantize(spec.step, ROUND_DOWN)
        if kind == "MARKET" or crosses:
            self._fill(order, fill_qty, last, maker=False)
        elif partial is not None:
            self._fill(order, fill_qty, price, maker=True)
        if order.executed == qty:
            order.status = "FILLED"
        elif kind == "MARKET" or tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        elif order.executed:
            order.status = "PARTIALLY_FILLED"
        if order.status not in OPEN:
            self._release(order)
        answer = params.get("newOrderRespType") or ("FULL" if kind in ("MARKET", "LIMIT") else "ACK")
        view = {"symbol": spec.symbol, "orderId": order.id, "orderListId": -1, "clientOrderId": client_id}
        if answer == "ACK":
            return view | {"transactTime": now}
        view |= {"transactTime": now} | order_view(order, new=True)
        if answer == "FULL":
            view["fills"] = [
                {"price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission), "commissionAsset": t.asset,
                 "tradeId": t.id}
                for t in order.fills
            ]  # fmt: skip
        return view

    def _order_terms(self, params, kind, spec, last):
        """(quantity, quoteOrderQty, price, timeInForce) once Binance's checks and filters have passed."""
        for name in ("price", "timeInForce") if kind == "MARKET" else ("quoteOrderQty",):
            if params.get(name):
                raise _not_required(name)
        if kind == "LIMIT_MAKER" and params.get("timeInForce"):
            raise _not_required("timeInForce")
        tif = params.get("timeInForce") or "GTC"
        if kind == "LIMIT" and not params.get("timeInForce"):
            raise _mandatory("timeInForce")
        if tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
        price, qty = _decimal(params, "price", None), _decimal(params, "quantity", None)
        quote_qty = _decimal(params, "quoteOrderQty", None) if kind == "MARKET" else None
        if kind == "MARKET" and (qty is None) == (quote_qty is None):
            if qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            raise _not_required("quoteOrderQty")
        if kind != "MARKET":
            if price is None:
                raise _mandatory("price")
            if qty is None:
                raise _mandatory("quantity")
            if price < spec.tick or price > spec.max_price or price % spec.tick:
                raise _filter("PRICE_FILTER")
        if quote_qty is not None:
            if quote_qty < MIN_NOTIONAL:
                raise _filter("NOTIONAL")
            qty = (quote_qty / last).quantize(spec.step, ROUND_DOWN)
        if qty < spec.step or qty > spec.max_qty or qty % spec.step:
            raise _filter("LOT_SIZE")
        if kind == "MARKET" and qty > spec.market_max_qty:
            raise _filter("MARKET_LOT_SIZE")
        if qty * (price or last) < MIN_NOTIONAL:
            raise _filter("NOTIONAL")
        return qty, quote_qty, price or Decimal(0), tif

    def _fill(self, order: Order, qty: Decimal, price: Decimal, *, maker: bool) -> None:
        if qty <= 0:
            return
        key, base = self.keys[order.key], SPECS[order.symbol].base
        cost = qty * price
        if order.side == "BUY":
            freed = cost if order.type == "MARKET" else qty * order.price
            _held(key, QUOTE)[1] -= freed
            _held(key, QUOTE)[0] += freed - cost
            commission, asset = (qty * COMMISSION).quantize(EIGHT, ROUND_HALF_UP), base
            _held(key, base)[0] += qty - commission
        else:
            freed = qty
            _held(key, base)[1] -= qty
            commission, asset = (cost * COMMISSION).quantize(EIGHT, ROUND_HALF_UP), QUOTE
            _held(key, QUOTE)[0] += cost - commission
        now = max(self.clock_ms, order.time)
        trade = Trade(self._next_trade_id, order, price, qty, commission, asset, now, maker)
        self._next_trade_id += 1
        order.reserved -= freed
        order.executed += qty
        order.cum_quote += cost
        order.update = key.updated = now
        order.fills.append(trade)
        self.trades.append(trade)

    def _release(self, order: Order) -> None:
        """Give back what the order still holds locked."""
        asset = QUOTE if order.side == "BUY" else SPECS[order.symbol].base
        _move(self.keys[order.key], asset, order.reserved, to_locked=False)
        order.reserved = Decimal(0)

    def _match_resting(self) -> None:
        """Fill the resting orders whose price a 1m candle reached since they were last looked at."""
        minute = self.clock_ms // 60_000
        for order in self.orders.values():
            if order.status not in OPEN or order.checked >= minute:
                continue
            for m in range(order.checked + 1, minute + 1):
                candle = self.candles.minute(order.symbol, m)
                if candle.low <= order.price if order.side == "BUY" else candle.high >= order.price:
                    self._fill(order, order.qty - order.executed, order.price, maker=True)
                    order.status = "FILLED"
                    self._release(order)
                    break
            order.checked = minute

    def _find(self, params: dict, key: Key, code: int, msg: str) -> Order:
        symbol = self._symbol(params)
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        mine = [o for o in self.orders.values() if o.key == key.api_key and o.symbol == symbol]
        if order_id:
            found = [o for o in mine if str(o.id) == order_id and client_id in (None, o.client_id)]
        else:
            found = [o for o in mine if o.client_id == client_id]
        if not found:
            raise BinanceError(code, msg)
        return found[-1]

    def _api_get_order(self, params, key):
        return order_view(self._find(params, key, -2013, "Order does not exist."))

    def _api_cancel_order(self, params, key):
        order = self._find(params, key, -2011, "Unknown order sent.")
        if order.status not in OPEN:
            raise BinanceError(-2011, "Unknown order sent.")
        order.status, order.update = "CANCELED", self.clock_ms
        self._release(order)
        head = {"symbol": order.symbol, "origClientOrderId": order.client_id, "orderId": order.id, "orderListId": -1}
        cancel_id = params.get("newClientOrderId") or _random_id()
        return head | {"clientOrderId": cancel_id, "transactTime": order.update} | order_view(order, new=True)

    def _api_open_orders(self, params, key):
        symbol = self._symbol(params, required=False)
        return [
            order_view(o)
            for o in self.orders.values()
            if o.key == key.api_key and o.status in OPEN and symbol in (None, o.symbol)
        ]

    def _api_all_orders(self, params, key):
        symbol = self._symbol(params)
        start, end = _integer(params, "startTime", 0), _integer(params, "endTime", 2**63)
        from_id, limit = _integer(params, "orderId", 0), min(_integer(params, "limit", 500), 1000)
        mine = [
            o
            for o in self.orders.values()
            if o.key == key.api_key and o.symbol == symbol and o.id >= from_id and start <= o.time <= end
        ]
        chosen = mine[:limit] if from_id or "startTime" in params else mine[-limit:]
        return [order_view(o) for o in chosen]

    def _api_my_trades(self, params, key):
        symbol = self._symbol(params)
        start, end = _integer(params, "startTime", None), _integer(params, "endTime", None)
        if start is not None and end is not None and end - start > DAY_MS:
            raise BinanceError(-1127, "More than 24 hours between startTime and endTime.")
        if (start is None) != (end is None):
            start, end = (start, start + DAY_MS) if end is None else (end - DAY_MS, end)
        order_id, from_id = _integer(params, "orderId", None), _integer(params, "fromId", None)
        limit = min(_integer(params, "limit", 500), 1000)
        mine = [
            t
            for t in self.trades
            if t.order.key == key.api_key
            and t.order.symbol == symbol
            and order_id in (None, t.order.id)
            and (from_id is None or t.id >= from_id)
            and (start is None or start <= t.time <= end)
        ]
        chosen = mine[:limit] if from_id is not None or start is not None else mine[-limit:]
        return [
            {
                "symbol": symbol,
                "id": t.id,
                "orderId": t.order.id,
                "orderListId": -1,
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "quoteQty": fmt(t.price * t.qty),
                "commission": fmt(t.commission),
                "commissionAsset": t.asset,
                "time": t.time,
                "isBuyer": t.order.side == "BUY",
                "isMaker": t.maker,
                "isBestMatch": True,
            }
            for t in chosen
        ]


def order_view(order: Order, *, new: bool = False) -> dict:
    """An order as Binance shows it: the fields after the ids of a new/cancel answer, or all of GET order."""
    numbers = {
        "price": fmt(order.price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.executed),
    }
    tail = {
        "status": order.status,
        "timeInForce": order.tif,
        "type": order.type,
        "side": order.side,
    }
    if new:
        return numbers | {
            "origQuoteOrderQty": fmt(order.quote_qty),
            "cummulativeQuoteQty": fmt(order.cum_quote),
            **tail,
            "workingTime": order.time,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
    head = {"symbol": order.symbol, "orderId": order.id, "orderListId": -1, "clientOrderId": order.client_id}
    return (
        head
        | numbers
        | {"cummulativeQuoteQty": fmt(order.cum_quote)}
        | tail
        | {
            "stopPrice": fmt(0),
            "icebergQty": fmt(0),
            "time": order.time,
            "updateTime": order.update,
            "isWorking": True,
            "workingTime": order.time,
            "origQuoteOrderQty": fmt(order.quote_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
    )


def _held(key: Key, asset: str) -> list[Decimal]:
    return key.balances.setdefault(asset, [Decimal(0), Decimal(0)])


def _move(key: Key, asset: str, amount: Decimal, *, to_locked: bool) -> None:
    held, amount = _held(key, asset), amount if to_locked else -amount
    held[0] -= amount
    held[1] += amount


def _raise(error: Exception):
    raise error


def _random_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))


def _integer(params: dict, name: str, default=...):
    value = params.get(name)
    if not value:
        if default is ...:
            raise _mandatory(name)
        return default
    if not value.isdigit():
        raise _illegal(name, "^[0-9]{1,20}$")
    return int(value)


def _decimal(params: dict, name: str, default):
    value = params.get(name)
    if not value:
        return default
    if not NUMBER.match(value):
        raise _illegal(name, NUMBER.pattern)
    number = Decimal(value)
    if number != number.quantize(EIGHT, ROUND_DOWN):
        raise BinanceError(-1111, f"Parameter '{name}' has too much precision.")
    return number
