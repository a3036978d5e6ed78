"""The fake exchange's ten USDT spot pairs, their Binance filters and their candles.

Each symbol's price is a geometric random walk with one step a minute. The step for minute m comes
from `random.Random(f"{seed}:{symbol}:{m}")`, so a seed always gives the same candles, in whatever
order they are asked for. Recorded candles (`Candles.record`) replace the generated ones at their
open times. Longer intervals are built from the 1m candles, as Binance builds them.
"""

import math
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

QUOTE = "USDT"
MIN_NOTIONAL = Decimal("5")
INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60}  # minutes
VOLATILITY = 0.0008  # of one 1m step
EIGHT = Decimal("0.00000001")


def fmt(value) -> str:
    """A decimal as Binance writes it: a string with eight decimals ("0.00100000")."""
    return f"{Decimal(value).quantize(EIGHT, ROUND_HALF_UP):f}"


@dataclass(frozen=True)
class Spec:
    symbol: str
    base: str
    tick: Decimal  # PRICE_FILTER tickSize (and minPrice)
    step: Decimal  # LOT_SIZE stepSize (and minQty)
    max_qty: Decimal
    start: float  # the price where the walk starts, at the clock's first minute

    @property
    def max_price(self) -> Decimal:
        return self.tick * 100_000_000

    @property
    def market_max_qty(self) -> Decimal:
        return self.max_qty / 100

    def price(self, value: float) -> Decimal:
        return Decimal(repr(value)).quantize(self.tick, ROUND_HALF_UP)


def _spec(symbol, tick, step, max_qty, start) -> Spec:
    return Spec(symbol, symbol.removesuffix(QUOTE), Decimal(tick), Decimal(step), Decimal(max_qty), start)


SPECS = {
    spec.symbol: spec
    for spec in (
        _spec("BTCUSDT", "0.01", "0.00001", "9000", 65000.0),
        _spec("ETHUSDT", "0.01", "0.0001", "9000", 3200.0),
        _spec("SOLUSDT", "0.01", "0.001", "9000000", 150.0),
        _spec("XRPUSDT", "0.0001", "0.1", "9222449", 0.55),
        _spec("LTCUSDT", "0.01", "0.001", "9000000", 80.0),
        _spec("ADAUSDT", "0.0001", "0.1", "9000000", 0.45),
        _spec("DOGEUSDT", "0.00001", "1", "9000000", 0.15),
        _spec("BNBUSDT", "0.01", "0.001", "900000", 580.0),
        _spec("DOTUSDT", "0.001", "0.01", "9000000", 6.5),
        _spec("LINKUSDT", "0.01", "0.01", "9000000", 14.0),
    )
}
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]


def exchange_symbol(spec: Spec) -> dict:
    """One entry of exchangeInfo's `symbols`, field for field as Binance lists a spot pair."""
    tick, step = fmt(spec.tick), fmt(spec.step)
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": QUOTE,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": fmt(spec.max_price), "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": fmt(spec.max_qty), "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(0), "maxQty": fmt(spec.market_max_qty), "stepSize": fmt(0)},
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(MIN_NOTIONAL),
                "applyMinToMarket": True,
                "maxNotional": fmt(9_000_000),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
    }


@dataclass(frozen=True)
class Candle:
    open_time: int  # ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def quote_volume(self) -> Decimal:
        return (self.volume * (self.open + self.close) / 2).quantize(EIGHT)

    def kline(self, minutes: int) -> list:
        """The row /api/v3/klines answers for this candle."""
        trades = int(self.quote_volume // 250) + 1
        taker = (self.volume / 2).quantize(EIGHT, ROUND_DOWN)
        taker_quote = (self.quote_volume / 2).quantize(EIGHT, ROUND_DOWN)
        close_time = self.open_time + minutes * 60_000 - 1
        prices = [fmt(self.open), fmt(self.high), fmt(self.low), fmt(self.close), fmt(self.volume)]
        return [self.open_time, *prices, close_time, fmt(self.quote_volume), trades, fmt(taker), fmt(taker_quote), "0"]


def merge(candles: list[Candle]) -> Candle:
    return Candle(
        candles[0].open_time,
        candles[0].open,
        max(c.high for c in candles),
        min(c.low for c in candles),
        candles[-1].close,
        sum((c.volume for c in candles), Decimal(0)),
    )


class Candles:
    """The candles of every symbol: the seeded walk, with recorded candles laid over it."""

    def __init__(self, seed: int, anchor_minute: int):
        self.seed, self.anchor = seed, anchor_minute
        self._closes: dict[str, dict[int, float]] = {}
        self._generated: dict[tuple[str, int], Candle] = {}
        self.recorded: dict[tuple[str, str], dict[int, Candle]] = {}

    def record(self, symbol: str, interval: str, rows) -> None:
        """Recorded [open_ms, open, high, low, close, volume] rows (ccxt's OHLCV order) replace the walk."""
        size = INTERVALS[interval] * 60_000
        spec, book = SPECS[symbol], self.recorded.setdefault((symbol, interval), {})
        for row in rows:
            open_time = int(row[0])
            if open_time % size:
                raise ValueError(f"{open_time} is not the start of a {interval} candle")
            o, h, lo, c = (Decimal(str(v)).quantize(spec.tick, ROUND_HALF_UP) for v in row[1:5])
            book[open_time] = Candle(open_time, o, h, lo, c, Decimal(str(row[5])))

    def _close(self, symbol: str, minute: int) -> float:
        closes = self._closes.setdefault(symbol, {self.anchor: SPECS[symbol].start})
        if minute not in closes:
            step = 1 if minute > self.anchor else -1
            m = minute
            while m - step not in closes:
                m -= step
            while m != minute + step:
                z = self._draws(symbol, m if step == 1 else m + 1)[0]
                factor = math.exp(VOLATILITY * z)
                closes[m] = closes[m - 1] * factor if step == 1 else closes[m + 1] / factor
                m += step
        return closes[minute]

    def _draws(self, symbol: str, minute: int) -> tuple[float, float, float, float]:
        rng = random.Random(f"{self.seed}:{symbol}:{minute}")
        return rng.gauss(0, 1), abs(rng.gauss(0, 1)), abs(rng.gauss(0, 1)), rng.random()

    def minute(self, symbol: str, minute: int) -> Candle:
        """The 1m candle that opens at `minute` (minutes since the epoch)."""
        recorded = self.recorded.get((symbol, "1m"), {}).get(minute * 60_000)
        if recorded:
            return recorded
        cached = self._generated.get((symbol, minute))
        if cached:
            return cached
        spec = SPECS[symbol]
        _, up, down, u = self._draws(symbol, minute)
        before, after = self._close(symbol, minute - 1), self._close(symbol, minute)
        o, c = spec.price(before), spec.price(after)
        h = max(o, c, spec.price(max(before, after) * (1 + VOLATILITY * up / 2)))
        lo = min(o, c, spec.price(min(before, after) * (1 - VOLATILITY * down / 2)))
        volume = (Decimal(repr((40_000 + 160_000 * u) / after))).quantize(spec.step, ROUND_DOWN)
        candle = Candle(minute * 60_000, o, h, lo, c, volume)
        self._generated[(symbol, minute)] = candle
        return candle

    def candle(self, symbol: str, interval: str, open_time: int, now_ms: int) -> Candle:
        """The candle opening at `open_time`; the one in progress holds the minutes up to now only."""
        recorded = self.recorded.get((symbol, interval), {}).get(open_time)
        if recorded or interval == "1m":
            return recorded or self.minute(symbol, open_time // 60_000)
        first = open_time // 60_000
        last = min(first + INTERVALS[interval], now_ms // 60_000 + 1)
        return merge([self.minute(symbol, m) for m in range(first, last)])

    def price(self, symbol: str, now_ms: int) -> Decimal:
        """The last price: the close of the candle the clock is in (a recorded one of any interval first)."""
        for (recorded_symbol, interval), book in self.recorded.items():
            size = INTERVALS[interval] * 60_000
            if recorded_symbol == symbol and now_ms // size * size in book:
                return book[now_ms // size * size].close
        return self.minute(symbol, now_ms // 60_000).close

    def klines(self, symbol, interval, now_ms, *, start=None, end=None, limit=500) -> list[Candle]:
        size = INTERVALS[interval] * 60_000
        last = now_ms // size * size if end is None else min(now_ms, end) // size * size
        if start is not None:
            first = -(-start // size) * size
            last = min(last, first + (limit - 1) * size)
        else:
            first = last - (limit - 1) * size
        return [self.candle(symbol, interval, t, now_ms) for t in range(first, last + 1, size)]
