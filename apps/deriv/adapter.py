"""The one place that knows Deriv's field names and their string/number quirks.

Responses become small frozen dataclasses with Decimal money; requests are built
here so New-API names (`underlying_symbol`, `exit_spot`, …) appear nowhere else.
Parsers accept the Legacy spellings too (`symbol`, `underlying`, `exit_tick`),
which costs nothing and keeps a half-migrated Deriv from breaking us.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import WrongResponse, from_ws

log = logging.getLogger(__name__)

RISE, FALL = "RISE", "FALL"
CONTRACT_TYPES = {RISE: "CALL", FALL: "PUT"}


# ---------------------------------------------------------------- normalisers


def decimal(value) -> Decimal | None:
    """Money or a spot from Deriv: number or string, through str() so floats keep their printed digits."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise WrongResponse(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise WrongResponse(f"not a finite number: {value!r}")
    return result


def _required_decimal(data: dict, *names: str) -> Decimal:
    for name in names:
        value = decimal(data.get(name))
        if value is not None:
            return value
    raise WrongResponse(f"missing {names[0]}")


def _int(value) -> int | None:
    """An id, count or epoch: a number or a numeric string, "1700000000.0" included (a whole value only)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str | float | Decimal):
        raise WrongResponse(f"not an integer: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise WrongResponse(f"not an integer: {value!r}") from exc
    if not number.is_finite() or number != number.to_integral_value():
        raise WrongResponse(f"not an integer: {value!r}")
    return int(number)


def _flag(value) -> bool:
    """Deriv's 0/1 flags, also sent as JSON booleans or their strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return bool(_int(value) or 0)


def _text(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WrongResponse(f"not a string: {value!r}")
    return value


class _Fields:
    """Reads optional fields one by one: an odd one (wrong type) becomes None and is named, never fatal."""

    def __init__(self, body: dict):
        self.body = body
        self.odd: list[str] = []

    def get(self, parse, *names: str):
        value = next((self.body[n] for n in names if self.body.get(n) is not None), None)
        try:
            return parse(value)
        except (WrongResponse, TypeError, ValueError, AttributeError):
            self.odd.append(names[0])
            return None


def _number(value: Decimal | int | float) -> int | float:
    """A JSON number for a request (P-guard: never a string); whole values as int."""
    value = Decimal(str(value))
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _body(message: dict, key: str) -> dict:
    if not isinstance(message, dict):
        raise WrongResponse("message is not an object")
    if "error" in message:
        raise from_ws(message)
    body = message.get(key)
    if not isinstance(body, dict):
        raise WrongResponse(f"no {key} object in {message.get('msg_type')!r}")
    return body


def subscription_id(message: dict) -> str | None:
    sub = message.get("subscription")
    return sub.get("id") if isinstance(sub, dict) else None


# A message's body key when Deriv leaves out `msg_type` (the body key names it; `tick` for ticks…).
_BODY_TYPES = (
    "proposal_open_contract",
    "buy",
    "sell",
    "balance",
    "proposal",
    "portfolio",
    "profit_table",
    "statement",
    "tick",
    "history",
    "candles",
    "ohlc",
    "active_symbols",
    "forget_all",
    "forget",
    "ping",
    "time",
)


def message_type(message: dict) -> str | None:
    """`msg_type`, or for a message without one the type its body says (None if neither)."""
    msg_type = message.get("msg_type")
    if isinstance(msg_type, str) and msg_type:
        return msg_type
    return next((name for name in _BODY_TYPES if name in message), None)


def request_id(message: dict) -> int | None:
    """The echoed `req_id`, also when it comes back as a string ("7")."""
    value = message.get("req_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# ---------------------------------------------------------------- market data


@dataclass(frozen=True)
class Tick:
    symbol: str
    epoch: int
    quote: Decimal
    pip_size: int | None = None
    subscription_id: str | None = None


@dataclass(frozen=True)
class History:
    ticks: tuple[Tick, ...]
    pip_size: int | None
    subscription_id: str | None = None


@dataclass(frozen=True)
class ActiveSymbol:
    symbol: str
    name: str
    market: str
    submarket: str
    pip: Decimal  # the minimum price step (0.01), not a count of decimals
    exchange_is_open: bool
    is_trading_suspended: bool

    @property
    def decimals(self) -> int:
        return max(0, -self.pip.normalize().as_tuple().exponent)


def parse_tick(message: dict) -> Tick:
    body = _body(message, "tick")
    return Tick(
        symbol=str(body.get("symbol") or body.get("underlying_symbol") or ""),
        epoch=_int(body.get("epoch")),
        quote=_required_decimal(body, "quote"),
        pip_size=_int(body.get("pip_size")),
        subscription_id=subscription_id(message) or body.get("id"),
    )


def parse_history(message: dict, symbol: str = "") -> History:
    body = _body(message, "history")
    prices, times = body.get("prices") or [], body.get("times") or []
    if len(prices) != len(times):
        raise WrongResponse("history prices and times differ in length")
    pip = _int(message.get("pip_size"))
    ticks = tuple(Tick(symbol, _int(t), decimal(p), pip) for p, t in zip(prices, times, strict=True))
    return History(ticks, pip, subscription_id(message))


def parse_active_symbols(message: dict) -> list[ActiveSymbol]:
    if "error" in message:
        raise from_ws(message)
    items = message.get("active_symbols")
    if not isinstance(items, list):
        raise WrongResponse("no active_symbols list")
    return [
        ActiveSymbol(
            symbol=item.get("underlying_symbol") or item.get("symbol"),
            name=item.get("underlying_symbol_name") or item.get("display_name") or "",
            market=item.get("market", ""),
            submarket=item.get("submarket", ""),
            pip=decimal(item.get("pip_size", item.get("pip"))) or Decimal("0.01"),
            exchange_is_open=_flag(item.get("exchange_is_open")),
            is_trading_suspended=_flag(item.get("is_trading_suspended")),
        )
        for item in items
    ]


# ---------------------------------------------------------------- pricing and trading


@dataclass(frozen=True)
class Proposal:
    id: str
    ask_price: Decimal
    payout: Decimal
    spot: Decimal | None
    spot_time: int | None
    date_start: int | None
    longcode: str
    min_stake: Decimal | None
    max_payout: Decimal | None
    subscription_id: str | None = None


def parse_proposal(message: dict) -> Proposal:
    body = _body(message, "proposal")
    limits = body.get("validation_params") if isinstance(body.get("validation_params"), dict) else {}
    stake = limits.get("stake") if isinstance(limits.get("stake"), dict) else {}
    payout = limits.get("payout") if isinstance(limits.get("payout"), dict) else {}
    if not body.get("id"):
        raise WrongResponse("proposal without id")
    return Proposal(
        id=str(body["id"]),
        ask_price=_required_decimal(body, "ask_price"),
        payout=_required_decimal(body, "payout"),
        spot=decimal(body.get("spot")),
        spot_time=_int(body.get("spot_time")),
        date_start=_int(body.get("date_start")),
        longcode=str(body.get("longcode") or ""),
        min_stake=decimal(stake.get("min")),
        max_payout=decimal(payout.get("max")),
        subscription_id=subscription_id(message),
    )


@dataclass(frozen=True)
class Purchase:
    contract_id: int
    transaction_id: int
    buy_price: Decimal
    payout: Decimal
    balance_after: Decimal
    purchase_time: int
    start_time: int
    longcode: str
    shortcode: str
    subscription_id: str | None = None  # the contract's POC stream, when bought with subscribe


def parse_buy(message: dict) -> Purchase:
    body = _body(message, "buy")
    return Purchase(
        contract_id=_int(body.get("contract_id")),
        transaction_id=_int(body.get("transaction_id")),
        buy_price=_required_decimal(body, "buy_price"),
        payout=_required_decimal(body, "payout"),
        balance_after=_required_decimal(body, "balance_after"),
        purchase_time=_int(body.get("purchase_time")),
        start_time=_int(body.get("start_time")),
        longcode=str(body.get("longcode") or ""),
        shortcode=str(body.get("shortcode") or ""),
        subscription_id=subscription_id(message),
    )


@dataclass(frozen=True)
class OpenContract:
    """One `proposal_open_contract` update; final once `is_sold`, whatever `status` says (API.md §5.6).

    `status` is "open", "won", "lost", "sold", "cancelled", or None (Deriv sends null
    now and then, sold contracts included). What a final contract paid is read by
    apps.trading.services.venue from `sell_price`, else `payout` (won), else `profit`.
    """

    contract_id: int
    contract_type: str
    currency: str
    symbol: str
    status: str | None
    is_expired: bool
    is_sold: bool
    is_valid_to_sell: bool
    buy_price: Decimal | None
    payout: Decimal | None
    bid_price: Decimal | None
    profit: Decimal | None
    sell_price: Decimal | None
    entry_spot: Decimal | None
    entry_spot_time: int | None
    exit_spot: Decimal | None
    exit_spot_time: int | None
    current_spot: Decimal | None
    current_spot_time: int | None
    tick_count: int | None
    date_start: int | None
    date_expiry: int | None
    sell_time: int | None
    sell_transaction_id: int | None
    subscription_id: str | None = None
    odd_fields: tuple[str, ...] = ()  # optional fields of the wrong type, read as missing
    # What Deriv says it charged on this contract (Legacy schema, both optional): the app's markup
    # (`app_markup_amount`, a string) and Deriv's own commission (`commission`, in the payout currency).
    app_markup_amount: Decimal | None = None
    commission: Decimal | None = None

    @property
    def is_settled(self) -> bool:
        return self.is_sold

    @property
    def won(self) -> bool:
        return self.status == "won"


def parse_open_contract(message: dict) -> OpenContract | None:
    """None for the empty `{}` Deriv sends when there are no open contracts.

    Only `contract_id` is required; every other field is read on its own, so one
    of the wrong type is logged and read as missing instead of losing the update.
    """
    body = _body(message, "proposal_open_contract")
    if not body:
        return None
    contract_id = _int(body.get("contract_id"))
    if contract_id is None:
        raise WrongResponse("contract update without contract_id")
    f = _Fields(body)
    txns = body.get("transaction_ids") if isinstance(body.get("transaction_ids"), dict) else {}
    status = f.get(_text, "status")
    poc = OpenContract(
        contract_id=contract_id,
        contract_type=f.get(_text, "contract_type") or "",
        currency=f.get(_text, "currency") or "",
        symbol=f.get(_text, "underlying_symbol", "underlying") or "",
        status=status.strip().lower() if status else None,
        is_expired=bool(f.get(_flag, "is_expired")),
        is_sold=bool(f.get(_flag, "is_sold")),
        is_valid_to_sell=bool(f.get(_flag, "is_valid_to_sell")),
        buy_price=f.get(decimal, "buy_price"),
        payout=f.get(decimal, "payout"),
        bid_price=f.get(decimal, "bid_price"),
        profit=f.get(decimal, "profit"),
        sell_price=f.get(decimal, "sell_price"),
        entry_spot=f.get(decimal, "entry_spot", "entry_tick"),
        entry_spot_time=f.get(_int, "entry_spot_time", "entry_tick_time"),
        exit_spot=f.get(decimal, "exit_spot", "exit_tick"),
        exit_spot_time=f.get(_int, "exit_spot_time", "exit_tick_time"),
        current_spot=f.get(decimal, "current_spot"),
        current_spot_time=f.get(_int, "current_spot_time"),
        tick_count=f.get(_int, "tick_count"),
        date_start=f.get(_int, "date_start"),
        date_expiry=f.get(_int, "date_expiry"),
        sell_time=f.get(_int, "sell_time"),
        sell_transaction_id=_Fields(txns).get(_int, "sell"),
        subscription_id=subscription_id(message) or f.get(_text, "id"),
        app_markup_amount=f.get(decimal, "app_markup_amount"),
        commission=f.get(decimal, "commission"),
        odd_fields=tuple(f.odd),
    )
    if poc.odd_fields:
        log.warning("Deriv contract %s: odd fields read as missing: %s", contract_id, ", ".join(poc.odd_fields))
    return poc


@dataclass(frozen=True)
class PortfolioEntry:
    contract_id: int
    contract_type: str
    symbol: str
    buy_price: Decimal
    payout: Decimal | None
    purchase_time: int | None
    transaction_id: int | None


def parse_portfolio(message: dict) -> list[PortfolioEntry]:
    body = _body(message, "portfolio")
    return [
        PortfolioEntry(
            contract_id=_int(c.get("contract_id")),
            contract_type=str(c.get("contract_type") or ""),
            symbol=str(c.get("underlying_symbol") or c.get("symbol") or ""),
            buy_price=_required_decimal(c, "buy_price"),
            payout=decimal(c.get("payout")),
            purchase_time=_int(c.get("purchase_time")),
            transaction_id=_int(c.get("transaction_id")),
        )
        for c in body.get("contracts") or []
    ]


@dataclass(frozen=True)
class PastContract:
    """A contract from `profit_table` (sold) or `statement` (its buy): what reconciliation matches on."""

    contract_id: int
    contract_type: str  # "" when only the shortcode says it (see `matches`)
    symbol: str
    buy_price: Decimal
    payout: Decimal | None
    purchase_time: int | None
    transaction_id: int | None
    shortcode: str
    sell_price: Decimal | None = None

    def matches(self, *, symbol: str, contract_type: str) -> bool:
        """Same market and type; from the shortcode ("CALL_R_10_19.5_1700000000_5T_S0P_0") when fields are absent."""
        if self.symbol and self.contract_type:
            return self.symbol == symbol and self.contract_type == contract_type
        return self.shortcode.startswith(f"{contract_type}_{symbol}_")


def _past(item: dict, *, buy_price: Decimal, sell_price: Decimal | None) -> PastContract:
    f = _Fields(item)
    return PastContract(
        contract_id=_int(item.get("contract_id")),
        contract_type=f.get(_text, "contract_type") or "",
        symbol=f.get(_text, "underlying_symbol", "symbol") or "",
        buy_price=buy_price,
        payout=f.get(decimal, "payout"),
        purchase_time=f.get(_int, "purchase_time", "transaction_time"),
        transaction_id=f.get(_int, "transaction_id"),
        shortcode=f.get(_text, "shortcode") or "",
        sell_price=sell_price,
    )


def parse_profit_table(message: dict) -> list[PastContract]:
    """Sold contracts, newest first (`sort: DESC`)."""
    body = _body(message, "profit_table")
    items = body.get("transactions") or []
    return [
        _past(t, buy_price=_required_decimal(t, "buy_price"), sell_price=decimal(t.get("sell_price")))
        for t in items
        if isinstance(t, dict) and t.get("contract_id") is not None
    ]


def parse_statement_buys(message: dict) -> list[PastContract]:
    """The `buy` transactions of a statement (amount is minus the price), newest first."""
    body = _body(message, "statement")
    items = body.get("transactions") or []
    return [
        _past(t, buy_price=abs(_required_decimal(t, "amount")), sell_price=None)
        for t in items
        if isinstance(t, dict) and t.get("action_type") == "buy" and t.get("contract_id") is not None
    ]


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    currency: str
    account_id: str | None
    subscription_id: str | None = None


def parse_balance(message: dict) -> Balance:
    body = _body(message, "balance")
    return Balance(
        balance=_required_decimal(body, "balance"),
        currency=str(body.get("currency") or ""),
        account_id=body.get("loginid"),
        subscription_id=subscription_id(message) or body.get("id"),
    )


# ---------------------------------------------------------------- REST


@dataclass(frozen=True)
class Account:
    account_id: str
    account_type: str  # demo | real
    currency: str
    balance: Decimal | None
    status: str
    group: str

    @property
    def is_demo(self) -> bool:
        return self.account_type == "demo"

    @property
    def is_active(self) -> bool:
        return self.status == "active"


def parse_account(data: dict) -> Account:
    if not isinstance(data, dict) or not data.get("account_id"):
        raise WrongResponse("account without account_id")
    return Account(
        account_id=str(data["account_id"]),
        account_type=str(data.get("account_type") or ""),
        currency=str(data.get("currency") or ""),
        balance=decimal(data.get("balance")),
        status=str(data.get("status") or ""),
        group=str(data.get("group") or ""),
    )


def parse_accounts(body: dict) -> list[Account]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise WrongResponse("accounts answer without a data list")
    return [parse_account(item) for item in data]


def parse_otp(body: dict) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise WrongResponse("OTP answer without a WebSocket url")
    return url


# ---------------------------------------------------------------- requests


def contract_type(direction: str) -> str:
    """RISE → CALL, FALL → PUT (strict: an equal exit loses; CALLE/PUTE are not offered here)."""
    try:
        return CONTRACT_TYPES[direction.upper()]
    except KeyError:
        raise ValueError(f"unknown direction {direction!r}") from None


def proposal_request(
    *,
    symbol: str,
    direction: str,
    stake: Decimal,
    duration: int,
    duration_unit: str,
    currency: str,
    subscribe: bool = False,
) -> dict:
    request = {
        "proposal": 1,
        "amount": _number(stake),
        "basis": "stake",
        "contract_type": contract_type(direction),
        "currency": currency,
        "duration": int(duration),
        "duration_unit": duration_unit,
        "underlying_symbol": symbol,
    }
    if subscribe:
        request["subscribe"] = 1
    return request


def buy_request(proposal_id: str, price: Decimal, *, subscribe: bool = True, order: int | None = None) -> dict:
    """`price` is the most we accept: the proposal's ask price, as a JSON number.

    `order`: our contract's id, sent as `passthrough` (Deriv echoes it on the answer and the
    contract's stream), so an answer that arrives after we stopped waiting still finds its order.
    """
    request: dict = {"buy": proposal_id, "price": _number(price)}
    if subscribe:
        request["subscribe"] = 1
    if order is not None:
        request["passthrough"] = {"order": int(order)}
    return request


def passthrough_order(message: dict) -> int | None:
    """The order id a buy_request(order=...) carried, from its (possibly late) answer."""
    passthrough = message.get("passthrough")
    if not isinstance(passthrough, dict):
        passthrough = (
            (message.get("echo_req") or {}).get("passthrough") if isinstance(message.get("echo_req"), dict) else None
        )
    value = passthrough.get("order") if isinstance(passthrough, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def open_contract_request(contract_id: int | None = None, *, subscribe: bool = True) -> dict:
    request: dict = {"proposal_open_contract": 1}
    if contract_id is not None:
        request["contract_id"] = int(contract_id)
    if subscribe:
        request["subscribe"] = 1
    return request


def portfolio_request() -> dict:
    return {"portfolio": 1}


def profit_table_request(*, limit: int = 50) -> dict:
    return {"profit_table": 1, "description": 1, "limit": int(limit), "sort": "DESC"}


def statement_request(*, limit: int = 50) -> dict:
    return {"statement": 1, "description": 1, "action_type": "buy", "limit": int(limit)}


def balance_request(*, subscribe: bool = True) -> dict:
    return {"balance": 1, "subscribe": 1} if subscribe else {"balance": 1}


def ticks_request(symbol: str, *, subscribe: bool = True) -> dict:
    return {"ticks": symbol, "subscribe": 1} if subscribe else {"ticks": symbol}


def ticks_history_request(symbol: str, *, count: int = 1000, subscribe=False) -> dict:
    request: dict = {"ticks_history": symbol, "end": "latest", "count": int(count), "style": "ticks"}
    if subscribe:
        request["subscribe"] = 1
    return request


def active_symbols_request(*, contract_types=("CALL", "PUT")) -> dict:
    request: dict = {"active_symbols": "brief"}
    if contract_types:
        request["contract_type"] = list(contract_types)
    return request


def forget_request(subscription_id: str) -> dict:
    return {"forget": subscription_id}


def forget_all_request(*stream_types: str) -> dict:
    return {"forget_all": list(stream_types) if len(stream_types) != 1 else stream_types[0]}


def ping_request() -> dict:
    return {"ping": 1}


@dataclass(frozen=True)
class MarkupRow:
    """One app's markup in one currency, as `GET /applications/v1/markup-statistics` breaks it down."""

    app_id: str
    currency: str
    markup: Decimal
    markup_usd: Decimal
    transactions: int


@dataclass(frozen=True)
class MarkupStatistics:
    date_from: str
    date_to: str
    breakdown: tuple[MarkupRow, ...]
    markup_usd: Decimal
    transactions: int


def parse_markup_statistics(body: dict, *, date_from: str, date_to: str) -> MarkupStatistics:
    """The REST answer (`data`, shaped as Legacy `app_markup_statistics`): a breakdown and its totals.

    Money comes as numbers or strings; a row without its figures is a WrongResponse, never a zero.
    """
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("breakdown", []), list):
        raise WrongResponse("markup statistics without data")
    rows = []
    for item in data.get("breakdown", []):
        if not isinstance(item, dict):
            raise WrongResponse("markup statistics: a breakdown row is not an object")
        markup = decimal(item.get("app_markup_value"))
        usd = decimal(item.get("app_markup_usd"))
        count = _int(item.get("transactions_count"))
        if markup is None or usd is None or count is None:
            raise WrongResponse("markup statistics: a breakdown row without its figures")
        rows.append(
            MarkupRow(
                app_id=str(item.get("app_id") or ""),
                currency=_text(item.get("dev_currcode")) or "",
                markup=markup,
                markup_usd=usd,
                transactions=count,
            )
        )
    total_usd = decimal(data.get("total_app_markup_usd"))
    total_count = _int(data.get("total_transactions_count"))
    return MarkupStatistics(
        date_from=date_from,
        date_to=date_to,
        breakdown=tuple(rows),
        markup_usd=total_usd if total_usd is not None else sum((r.markup_usd for r in rows), Decimal("0")),
        transactions=total_count if total_count is not None else sum(r.transactions for r in rows),
    )
