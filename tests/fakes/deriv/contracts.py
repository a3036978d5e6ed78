"""Rise/Fall pricing and settlement as API.md §9 describes them."""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .market import SYMBOLS, Tick

MIN_STAKE = Decimal("0.35")
MAX_PAYOUT = Decimal("50000.00")
CENT = Decimal("0.01")
SUPPORTED_TYPES = ("CALL", "PUT", "CALLE", "PUTE")
# Durations offered on synthetic indices (API.md §9: ticks 1–10, at least 15 s).
DURATION_LIMITS = {"t": (1, 10), "s": (15, 86400), "m": (1, 1440), "h": (1, 24), "d": (1, 365)}
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# R_* tick contracts without a barrier are priced at a constant: their proposals are not streamed.
CONSTANT_PRICE_SYMBOLS = ("R_10", "R_25", "R_50", "R_75", "R_100", "RDBULL", "RDBEAR")


class ContractRefused(Exception):
    def __init__(self, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Terms:
    """Validated contract parameters and their price."""

    symbol: str
    contract_type: str
    currency: str
    duration: int | None
    duration_unit: str | None
    date_expiry: int | None
    ask_price: Decimal
    payout: Decimal

    @property
    def tick_count(self) -> int | None:
        return self.duration if self.duration_unit == "t" else None

    @property
    def constant_price(self) -> bool:
        return self.duration_unit == "t" and self.symbol in CONSTANT_PRICE_SYMBOLS

    def longcode(self) -> str:
        name = SYMBOLS[self.symbol].name
        relation = {
            "CALL": "strictly higher than",
            "PUT": "strictly lower than",
            "CALLE": "higher than or equal to",
            "PUTE": "lower than or equal to",
        }[self.contract_type]
        if self.tick_count:
            return f"Win payout if {name} after {self.tick_count} ticks is {relation} entry spot."
        return f"Win payout if {name} is {relation} entry spot at close on {self.date_expiry}."


def price(params: dict, *, now: float) -> Terms:
    """Check a proposal's parameters (symbol, type, duration, stake/payout limits) and price it."""
    symbol = params["underlying_symbol"]
    if symbol not in SYMBOLS:
        raise ContractRefused("InvalidSymbol", f"Symbol {symbol} invalid.", {"field": "underlying_symbol"})
    contract_type = params["contract_type"]
    if contract_type not in SUPPORTED_TYPES:
        raise ContractRefused("OfferingsValidationError", "Trading is not offered for this contract type.")
    if "barrier" in params or "barrier2" in params:
        raise ContractRefused("ContractCreationFailure", "Barrier is not allowed for this contract type.")
    if params.get("currency") != "USD":
        raise ContractRefused("ContractCreationFailure", "Invalid currency.", {"field": "currency"})
    if "amount" not in params:
        raise ContractRefused("ContractCreationFailure", "Please enter a stake amount.", {"field": "amount"})
    duration = params.get("duration")
    unit = params.get("duration_unit", "s")
    date_expiry = params.get("date_expiry")
    if duration is None and date_expiry is None:
        raise ContractRefused("ContractCreationFailure", "Please enter a duration.", {"field": "duration"})
    if duration is not None:
        low, high = DURATION_LIMITS[unit]
        if not low <= duration <= high:
            raise ContractRefused(
                "OfferingsValidationError", "Trading is not offered for this duration.", {"field": "duration"}
            )
        if unit != "t":
            date_expiry = int(now) + duration * UNIT_SECONDS[unit]
    else:
        unit = None
        if date_expiry - now < 15:
            raise ContractRefused(
                "OfferingsValidationError", "Trading is not offered for this duration.", {"field": "date_expiry"}
            )
    factor = Decimal("1.95") if unit == "t" else Decimal("1.90")
    if contract_type in ("CALLE", "PUTE"):
        factor -= Decimal("0.10")
    amount = Decimal(str(params["amount"]))
    if params.get("basis", "payout") == "stake":
        ask, payout = money(amount), money(amount * factor)
    else:
        payout, ask = money(amount), money(amount / factor)
    if ask < MIN_STAKE:
        raise ContractRefused(
            "ContractBuyValidationError",
            f"Minimum stake of {MIN_STAKE} and maximum payout of {MAX_PAYOUT}. Current stake is {ask}.",
            {"field": "amount"},
        )
    if payout > MAX_PAYOUT:
        raise ContractRefused(
            "ContractBuyValidationError",
            f"Minimum stake of {MIN_STAKE} and maximum payout of {MAX_PAYOUT}. Current payout is {payout}.",
            {"field": "amount"},
        )
    return Terms(symbol, contract_type, "USD", duration, unit, date_expiry, ask, payout)


@dataclass
class Contract:
    contract_id: int
    account_id: str
    terms: Terms
    purchase_time: int
    buy_transaction: int
    shortcode: str
    entry: Tick | None = None
    ticks: list[Tick] = field(default_factory=list)  # entry first
    exit: Tick | None = None
    status: str = "open"  # open | won | lost | sold
    sell_price: Decimal | None = None
    sell_time: int | None = None
    sell_transaction: int | None = None

    @property
    def is_sold(self) -> bool:
        return self.status != "open"

    @property
    def current(self) -> Tick | None:
        return self.ticks[-1] if self.ticks else None

    def on_tick(self, tick: Tick) -> bool:
        """Feed the next tick of the contract's symbol; True once the contract is decided."""
        if self.is_sold:
            return False
        if self.terms.tick_count:
            self.ticks.append(tick)
            if self.entry is None:
                self.entry = tick
            elif len(self.ticks) - 1 == self.terms.tick_count:
                self.exit = tick
                return True
            return False
        if tick.epoch <= self.terms.date_expiry:
            self.ticks.append(tick)
            if self.entry is None:
                self.entry = tick
            return False
        return self.expire()

    def expire(self) -> bool:
        """Timed contracts: the exit is the last tick at or before expiry."""
        if self.is_sold or self.terms.tick_count:
            return False
        if self.entry is None:
            return False
        self.exit = self.ticks[-1]
        return True

    def won(self) -> bool:
        entry, exit_ = self.entry.quote, self.exit.quote
        return {
            "CALL": exit_ > entry,
            "PUT": exit_ < entry,
            "CALLE": exit_ >= entry,
            "PUTE": exit_ <= entry,
        }[self.terms.contract_type]

    def bid_price(self) -> Decimal:
        if self.is_sold:
            return self.sell_price
        if self.entry is None or self.current is None:
            return money(self.terms.ask_price * Decimal("0.95"))
        ahead = self.current.quote > self.entry.quote
        if self.terms.contract_type in ("PUT", "PUTE"):
            ahead = self.current.quote < self.entry.quote
        return money(self.terms.payout * (Decimal("0.75") if ahead else Decimal("0.25")))

    @property
    def valid_to_sell(self) -> bool:
        return not self.is_sold and not self.terms.tick_count and self.entry is not None
