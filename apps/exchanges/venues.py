"""The exchanges as Nexus speaks to them: ccxt's unified spot methods, and the paper exchange.

Every answer comes back as Decimal, and every ccxt error as one of three
faults the services act on:

- `Refused`: the exchange definitely did not take the order (insufficient
  balance, under the minimum notional, bad precision, unknown pair);
- `KeyRefused`: the key is wrong or lacks a permission;
- `Unreachable`: no answer (timeout, dropped connection, rate limited,
  exchange down). An order sent then may or may not exist: the caller looks
  it up by its client order id before sending anything else.
"""

import logging
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from functools import cache
from urllib.parse import urlsplit

import ccxt
from django.conf import settings

log = logging.getLogger(__name__)


class VenueError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:200]


class Refused(VenueError):
    pass


class KeyRefused(VenueError):
    pass


class Unreachable(VenueError):
    pass


@dataclass(frozen=True)
class Permissions:
    can_read: bool
    can_trade: bool
    # None where the exchange does not report it.
    can_withdraw: bool | None


@dataclass(frozen=True)
class OrderResult:
    exchange_order_id: str
    # ccxt's order status: "closed" (filled), "open", "canceled", "expired", "rejected".
    status: str
    filled: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str


def dec(value) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal("0")


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """`value` rounded down to a whole number of `step`s (an exchange's amount precision)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _fault(exc: Exception) -> VenueError:
    """The ccxt error as one of ours.

    ccxt raises DDoSProtection (a NetworkError) for Binance's -2015 once a key has signed a call
    successfully, so a key whose permissions were taken away is recognised by its code; and
    InvalidNonce (also a NetworkError: a clock out of the receive window) means the order was refused.
    """
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return KeyRefused(reason)
    if '"code":-2015' in str(exc).replace(" ", ""):
        return KeyRefused(reason)
    if isinstance(exc, ccxt.InvalidNonce):
        return Refused(reason)
    if isinstance(exc, ccxt.NetworkError):  # timeouts, rate limits, exchange not available
        return Unreachable(reason)
    return Refused(reason)


def urls_pointed_at(urls: dict, base: str) -> dict:
    """ccxt's `urls["api"]` with every section's scheme and host replaced by `base` (a test or staging server)."""
    target = urlsplit(base)

    def point(url):
        if isinstance(url, dict):
            return {name: point(value) for name, value in url.items()}
        parts = urlsplit(url)
        return parts._replace(scheme=target.scheme, netloc=target.netloc).geturl()

    return {**urls, "api": point(urls["api"])}


def client(exchange: str, credentials: dict | None = None) -> ccxt.Exchange:
    """A ccxt client: spot markets only, ccxt's rate limiter on, pointed at EXCHANGES[exchange]['URL'] if set."""
    options = settings.EXCHANGES[exchange]
    klass = getattr(ccxt, exchange)
    config = {
        "enableRateLimit": True,
        "timeout": int(options["TIMEOUT_S"] * 1000),
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "defaultType": "spot",
        },
        **(credentials or {}),
    }
    instance = klass(config)
    if options["URL"]:
        instance.urls = urls_pointed_at(instance.urls, options["URL"])
    return instance


def public_client(exchange: str) -> ccxt.Exchange:
    """One keyless client per exchange (and address) and process: all market data shares its rate limiter."""
    return _public_client(exchange, settings.EXCHANGES[exchange]["URL"])


@cache
def _public_client(exchange: str, url: str) -> ccxt.Exchange:
    return client(exchange)


class Venue:
    """One connection's calls to its exchange, in Decimal, with faults as `VenueError`s."""

    def __init__(self, exchange: str, credentials: dict | None = None):
        self.public = public_client(exchange)
        self.api = client(exchange, credentials) if credentials else self.public

    def _call(self, method: str, *args, missing_ok: bool = False, **kwargs):
        """The ccxt method's answer; with `missing_ok`, None where the exchange has no such order."""
        try:
            if self.api.markets is None and method != "load_markets":
                # A keyed client takes the process's markets rather than asking for them again (weight 20).
                self.api.set_markets(self.public.markets or self.public.load_markets())
            return getattr(self.api, method)(*args, **kwargs)
        except ccxt.OrderNotFound as exc:
            if missing_ok:
                return None
            raise _fault(exc) from None
        except ccxt.BaseError as exc:
            raise _fault(exc) from None

    def markets(self) -> list[dict]:
        return [m for m in self._call("load_markets", True).values() if m.get("spot")]

    def ohlcv(self, symbol: str, timeframe: str, *, since_ms: int | None, limit: int) -> list[list]:
        return self._call("fetch_ohlcv", symbol, timeframe, since_ms, limit)

    def balances(self) -> dict[str, Decimal]:
        """Each asset's total (free and in orders), those above zero."""
        totals = self._call("fetch_balance").get("total") or {}
        return {asset: dec(amount) for asset, amount in totals.items() if amount and dec(amount) > 0}

    def permissions(self) -> Permissions:
        """What the key may do. Binance reports it; a key that can read balances passes the read check."""
        if self.api.id == "binance":
            found = self._call("sapi_get_account_apirestrictions")
            return Permissions(
                can_read=bool(found.get("enableReading")),
                can_trade=bool(found.get("enableSpotAndMarginTrading")),
                can_withdraw=bool(found.get("enableWithdrawals")),
            )
        self.balances()
        return Permissions(can_read=True, can_trade=True, can_withdraw=None)

    def market_order(self, symbol: str, side: str, amount: Decimal, *, client_order_id: str) -> OrderResult:
        params = (
            {"newClientOrderId": client_order_id} if self.api.id == "binance" else {"clientOrderId": client_order_id}
        )
        return _result(self._call("create_order", symbol, "market", side, float(amount), None, params))

    def order_by_client_id(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order sent with this client order id, or None if the exchange never took it."""
        params = (
            {"origClientOrderId": client_order_id} if self.api.id == "binance" else {"clientOrderId": client_order_id}
        )
        order = self._call("fetch_order", None, symbol, params, missing_ok=True)
        if order is None:
            return None
        found = _result(order)
        if found.filled > 0 and not found.fee_currency:
            # An order looked up carries no fills: its trades say what fee was charged, and in what.
            trades = self._call("fetch_my_trades", symbol, None, None, {"orderId": order["id"]})
            fees = [t["fee"] for t in trades if t.get("fee") and t["fee"].get("cost")]
            fee = sum((dec(f["cost"]) for f in fees), Decimal("0"))
            currency = fees[0].get("currency", "") if fees else ""
            found = OrderResult(found.exchange_order_id, found.status, found.filled, found.cost, fee, currency)
        return found


def _result(order: dict) -> OrderResult:
    fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
    fee, currency = Decimal("0"), ""
    for item in fees:
        if item and item.get("cost"):
            fee += dec(item["cost"])
            currency = item.get("currency") or currency
    return OrderResult(
        exchange_order_id=str(order.get("id") or ""),
        status=order.get("status") or "open",
        filled=dec(order.get("filled")),
        cost=dec(order.get("cost")),
        fee=fee,
        fee_currency=currency,
    )
