"""Decisions over a whole series at once: the backtest's fast path, deciding as the live streams do.

The live worker decides on a window of recent prices through the strategies'
talipp streams (strategies.py, regime.py), one price at a time. A backtest
needs the decision at every one of millions of ticks, so here the prices
come in blocks (numpy arrays) and each indicator is computed over a whole
block with the same floating-point operations talipp performs, in the same
order, so every value is talipp's to the last bit:

- sliding sums (means, Donchian highs and lows) add a window's values left
  to right, as Python's `sum` does, one window column at a time across all
  windows;
- recursive indicators (EMA, Wilder's RSI averages) are a tight loop over
  the block's floats, carried from block to block: vectorising a recurrence
  would change its rounding;
- a standard deviation squares with `**` (the C library's `pow`, which
  differs from `x * x` in the last bit now and then): over whole blocks it is
  computed with `x * x`, good to about 1e-14, and wherever a decision could
  turn on a difference that small it is computed again exactly.

From those arrays each strategy's vote direction follows for the whole
block. The votes are cast by the strategies' own `judge` and combined by the
consensus's own `combine` only where enough of them take one side for the
consensus to be able to trade; the regime is read by its own `read_regime`
only where a trade decision needs it.
"""

import math
from abc import ABC, abstractmethod

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .config import DecisionConfig
from .consensus import Decision, combine
from .regime import PERIOD, SPAN, TREND_AT, Regime, RegimeKind, read_regime, regime_window
from .strategies import Breakout, DualRSI, Momentum, Scalping, Strategy
from .votes import Direction, Vote

RISE, FALL, NONE = 1, -1, 0
DIRECTIONS = {RISE: Direction.RISE, FALL: Direction.FALL, NONE: Direction.NONE}
# A decision read from values good to about 1e-14 is computed exactly within this relative distance of its threshold.
UNCERTAIN = 1e-9


def window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """The sum of each run of `width` consecutive values, added left to right from 0 as Python's `sum` does."""
    count = len(values) - width + 1
    if count <= 0:
        return np.zeros(0)
    total = np.zeros(count)
    for k in range(width):
        total += values[k : k + count]
    return total


def window_stdevs(values: np.ndarray, width: int) -> np.ndarray:
    """talipp's StdDev of each run of `width` values, squaring with `*` (within about 1e-14 of it)."""
    count = len(values) - width + 1
    if count <= 0:
        return np.zeros(0)
    mean = window_sums(values, width) / width
    spread = np.zeros(count)
    for k in range(width):
        deviation = values[k : k + count] - mean
        spread += deviation * deviation
    return np.sqrt(spread / width)


def stdev(values: list[float]) -> float:
    """talipp's StdDev over exactly these values, operation for operation."""
    period = len(values)
    mean = sum(values) / period
    return math.sqrt(sum([(item - mean) ** 2 for item in values]) / period)


def aligned(sums: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """`sums[k]` covers values k .. k + width - 1: the sum ending at each of `ends` (NaN where none does)."""
    starts = ends - width + 1
    valid = (starts >= 0) & (starts < len(sums))
    out = np.full(len(ends), math.nan)
    out[valid] = sums[starts[valid]]
    return out


def near_rounding(confidence: np.ndarray) -> np.ndarray:
    """Where a confidence good to about 1e-14 might cap or round to 4 decimals otherwise than the exact one."""
    scaled = np.minimum(confidence, 1.0) * 10_000
    with np.errstate(invalid="ignore"):
        return (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6) | (np.abs(confidence - 1.0) < 1e-9)


class EmaRun:
    """talipp's EMA fed block by block: the mean of the first `period` values, then the recurrence."""

    def __init__(self, period: int):
        self.period = period
        self.mult = 2.0 / (period + 1.0)
        self.first: list[float] = []
        self.value: float | None = None

    def feed(self, values: list[float]) -> np.ndarray:
        """The EMA after each value (NaN until `period` values were fed)."""
        out = []
        start = 0
        if self.value is None:
            missing = self.period - len(self.first)
            self.first.extend(values[:missing])
            out = [math.nan] * min(missing, len(values))
            if len(self.first) < self.period:
                return np.array(out)
            self.value = sum(self.first) / self.period
            out[-1] = self.value
            start = missing
        mult, keep, value = self.mult, 1.0 - self.mult, self.value
        append = out.append
        for price in values[start:]:
            value = mult * price + keep * value
            append(value)
        self.value = value
        return np.array(out)


class RsiRun:
    """talipp's RSI fed block by block: averages seeded from the first `period - 1` changes, then Wilder's."""

    def __init__(self, period: int):
        self.period = period
        self.first: list[float] = []
        self.gain: float | None = None
        self.loss = 0.0
        self.last = 0.0

    def feed(self, values: list[float]) -> np.ndarray:
        """The RSI after each value (NaN until `period + 1` values were fed)."""
        period = self.period
        out: list[float] = []
        start = 0
        if self.gain is None:
            missing = period + 1 - len(self.first)
            self.first.extend(values[:missing])
            if len(self.first) < period + 1:
                return np.full(len(values), math.nan)
            out = [math.nan] * (missing - 1)
            first = self.first
            changes = [first[i] - first[i - 1] for i in range(1, period)]
            self.gain = float(sum(c for c in changes if c > 0)) / (period - 1)
            self.loss = float(sum(-1 * c for c in changes if c < 0)) / (period - 1)
            self.last = first[-2]
            start = missing - 1
        gain, loss, last = self.gain, self.loss, self.last
        back = period - 1
        append = out.append
        for price in values[start:]:
            change = price - last
            last = price
            gain = float(gain * back + (change if change > 0 else 0.0)) / period
            loss = float(loss * back + (-1 * change if change < 0 else 0.0)) / period
            append(100.0 if loss == 0 else 100.0 - (100.0 / (1.0 + gain / loss)))
        self.gain, self.loss, self.last = gain, loss, last
        return np.array(out)


class Tail:
    """The latest `keep` prices fed, to prefix the next block so windows reach back across blocks."""

    def __init__(self, keep: int):
        self.keep = keep
        self.values = np.zeros(0)

    def extend(self, block: np.ndarray) -> np.ndarray:
        """The kept prices then `block`; keeps the latest `keep` of them for the next block."""
        joined = np.concatenate((self.values, block)) if len(self.values) else block
        self.values = joined[max(0, len(joined) - self.keep) :] if self.keep else np.zeros(0)
        return joined


class StrategySeries(ABC):
    """One strategy's votes over blocks of prices: `feed` a block, then read `directions` or `vote(j)`."""

    def __init__(self, strategy: Strategy):
        self.strategy = strategy
        self.seen = 0  # prices fed before the current block
        self.directions = np.zeros(0, dtype=np.int8)
        # Where a vote is cast: its confidence before `cast` caps and rounds it, the same float
        # operations as `judge`. Where `unsure`, it may be off in its last bits where that could
        # show after rounding: read `vote(j)` there.
        self.confidence = np.zeros(0)
        self.unsure = np.zeros(0, dtype=bool)

    @abstractmethod
    def feed(self, block: np.ndarray, values: list[float]) -> None:
        """Compute the block's indicators, `directions` (RISE, FALL or NONE per price) and `confidence`."""

    def vote(self, j: int) -> Vote:
        """The vote at position `j` of the current block, exactly as the strategy's stream casts it."""
        strategy = self.strategy
        seen = self.seen + j + 1
        if seen < strategy.min_window:
            return strategy.abstain(f"only {seen} prices so far; {strategy.name} needs {strategy.min_window}")
        return self.decide(j)

    @abstractmethod
    def decide(self, j: int) -> Vote:
        """The strategy's vote at position `j` of the current block, once it has seen enough prices."""

    def warm(self, length: int) -> np.ndarray:
        """Per position of a block of `length`: whether the strategy has seen enough prices to vote."""
        return np.arange(self.seen + 1, self.seen + length + 1) >= self.strategy.min_window


class ScalpingSeries(StrategySeries):
    strategy: Scalping

    def __init__(self, strategy: Scalping):
        super().__init__(strategy)
        self.tail = Tail(strategy.lookback)

    def feed(self, block: np.ndarray, values: list[float]) -> None:
        s = self.strategy
        self.offset = len(self.tail.values)
        prices = self.prices = self.tail.extend(block)
        changes = np.diff(prices)
        sign = np.sign(changes).astype(np.int8)
        # How many of the latest changes up to each one went the same (nonzero) way.
        index = np.arange(len(sign))
        starts = np.empty(len(sign), dtype=bool)
        starts[:1] = True
        starts[1:] = sign[1:] != sign[:-1]
        streak = index - np.maximum.accumulate(np.where(starts, index, 0)) + 1
        streak[sign == 0] = 0
        at = np.arange(self.offset, len(prices))  # each block price's place in `prices`
        before = np.maximum(at - 1, 0)
        last = sign[before] if len(sign) else np.zeros(len(at), dtype=np.int8)
        net = prices[at] - prices[np.maximum(at - s.ticks, 0)]
        rising = last > 0
        voting = (
            self.warm(len(block))
            & ((streak[before] if len(sign) else 0) >= s.min_streak)
            & (net != 0)
            & ((net > 0) == rising)
        )
        self.directions = np.where(voting, np.where(rising, RISE, FALL), NONE).astype(np.int8)
        # As `judge`: travel over the last `ticks` changes, the usual change over `lookback`.
        sizes = np.abs(changes)
        travel = aligned(window_sums(sizes, s.ticks), at - 1, s.ticks)
        usual = aligned(window_sums(sizes, s.lookback), at - 1, s.lookback) / s.lookback
        with np.errstate(divide="ignore", invalid="ignore"):
            efficiency = np.abs(net) / travel
            size = (travel / s.ticks) / usual
            self.confidence = efficiency * np.minimum(size, 1.0)
        self.unsure = np.zeros(len(block), dtype=bool)

    def decide(self, j: int) -> Vote:
        q = self.offset + j
        return self.strategy.judge(self.prices[q - self.strategy.lookback : q + 1].tolist())


class MomentumSeries(StrategySeries):
    strategy: Momentum

    def __init__(self, strategy: Momentum):
        super().__init__(strategy)
        self.fast_run, self.slow_run = EmaRun(strategy.fast), EmaRun(strategy.slow)
        self.tail = Tail(strategy.slow - 1)

    def feed(self, block: np.ndarray, values: list[float]) -> None:
        s = self.strategy
        self.offset = len(self.tail.values)
        prices = self.prices = self.tail.extend(block)
        self.fast, self.slow = self.fast_run.feed(values), self.slow_run.feed(values)
        volatility = np.full(len(block), math.nan)
        sliding = window_stdevs(prices, s.slow)  # sliding[k] is over prices[k : k + slow]
        first = max(0, s.slow - 1 - self.offset)  # block positions with a full window behind them
        volatility[first:] = sliding[self.offset + first - (s.slow - 1) :]
        gap = self.fast - self.slow
        with np.errstate(divide="ignore", invalid="ignore"):
            strength = np.abs(gap) / volatility
        warm = self.warm(len(block))
        voting = warm & (volatility != 0) & (strength >= s.min_strength)
        directions = np.where(voting, np.where(gap > 0, RISE, FALL), NONE).astype(np.int8)
        uncertain = warm & (
            (np.abs(volatility) < 1e-150) | (np.abs(strength - s.min_strength) <= UNCERTAIN * abs(s.min_strength))
        )
        for j in np.flatnonzero(uncertain).tolist():
            directions[j] = direction_code(self.decide(j).direction)
        self.directions = directions
        self.confidence = strength / s.full_strength
        self.unsure = uncertain | near_rounding(self.confidence)

    def decide(self, j: int) -> Vote:
        q = self.offset + j
        volatility = stdev(self.prices[q - self.strategy.slow + 1 : q + 1].tolist())
        return self.strategy.judge(float(self.fast[j]), float(self.slow[j]), volatility)


class BreakoutSeries(StrategySeries):
    strategy: Breakout

    def __init__(self, strategy: Breakout):
        super().__init__(strategy)
        self.tail = Tail(strategy.period)

    def feed(self, block: np.ndarray, values: list[float]) -> None:
        s = self.strategy
        self.offset = len(self.tail.values)
        prices = self.tail.extend(block)
        self.price = block
        # The previous `period` prices' range, before each block price that has that many behind it.
        self.low = np.full(len(block), math.nan)
        self.high = np.full(len(block), math.nan)
        first = max(0, s.period - self.offset)
        if len(prices) > s.period:
            windows = sliding_window_view(prices[:-1], s.period)
            self.low[first:] = windows.min(axis=1)[self.offset + first - s.period :]
            self.high[first:] = windows.max(axis=1)[self.offset + first - s.period :]
        width = self.high - self.low
        margin = s.margin * width
        moving = self.warm(len(block)) & (width != 0)
        rise = moving & (block - self.high > margin)
        fall = moving & ~rise & (self.low - block > margin)
        self.directions = np.where(rise, RISE, np.where(fall, FALL, NONE)).astype(np.int8)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.confidence = 0.5 + np.where(rise, block - self.high, self.low - block) / width
        self.unsure = np.zeros(len(block), dtype=bool)

    def decide(self, j: int) -> Vote:
        return self.strategy.judge(float(self.low[j]), float(self.high[j]), float(self.price[j]))


class DualRSISeries(StrategySeries):
    strategy: DualRSI

    def __init__(self, strategy: DualRSI):
        super().__init__(strategy)
        self.fast_run, self.slow_run = RsiRun(strategy.fast), RsiRun(strategy.slow)
        self.last: float | None = None
        self.run_length = 0  # how many of the latest prices fed are equal

    def feed(self, block: np.ndarray, values: list[float]) -> None:
        s = self.strategy
        self.fast, self.slow = self.fast_run.feed(values), self.slow_run.feed(values)
        # How many of the latest prices are equal, at each block price (the stream's `unchanged`).
        index = np.arange(len(block))
        starts = np.empty(len(block), dtype=bool)
        starts[1:] = block[1:] != block[:-1]
        starts[:1] = self.last is None or block[:1] != self.last
        equal = index - np.maximum.accumulate(np.where(starts, index, 0)) + 1
        if len(block) and not starts[0]:
            equal[: np.argmax(starts) if starts.any() else len(block)] += self.run_length
        self.unchanged = equal
        if len(block):
            self.last, self.run_length = float(block[-1]), int(equal[-1])
        flat = equal >= s.flat_span
        live = self.warm(len(block)) & ~flat
        rise = live & (self.fast < s.oversold) & (self.slow < s.oversold)
        fall = live & (self.fast > s.overbought) & (self.slow > s.overbought)
        self.directions = np.where(rise, RISE, np.where(fall, FALL, NONE)).astype(np.int8)
        oversold = (s.oversold - np.maximum(self.fast, self.slow)) / s.oversold
        overbought = (np.minimum(self.fast, self.slow) - s.overbought) / (100 - s.overbought)
        self.confidence = 0.5 + np.where(rise, oversold, overbought)
        self.unsure = np.zeros(len(block), dtype=bool)

    def decide(self, j: int) -> Vote:
        s = self.strategy
        if self.unchanged[j] >= s.flat_span:
            return s.abstain(f"prices did not move over the last {s.flat_span} ticks: RSI is undefined")
        return s.judge(float(self.fast[j]), float(self.slow[j]))


SERIES: dict[type[Strategy], type[StrategySeries]] = {
    Scalping: ScalpingSeries,
    Momentum: MomentumSeries,
    Breakout: BreakoutSeries,
    DualRSI: DualRSISeries,
}


def direction_code(direction: str) -> int:
    return RISE if direction == Direction.RISE else FALL if direction == Direction.FALL else NONE


class DecisionSeries:
    """`DecisionConfig.stream()` over blocks of prices: `feed` gives every price's decision direction."""

    def __init__(self, config: DecisionConfig):
        self.config = config
        self.series = tuple(SERIES[type(strategy)](strategy) for strategy in config.built)
        self.min_agreeing = config.min_agreeing
        self.min_confidence = float(config.min_confidence)
        self.blank_abstentions = tuple(Vote(s.name, Direction.NONE, 0.0, "") for s in config.built)
        self.seen = 0

    def feed(self, block: np.ndarray) -> np.ndarray:
        """The decision's direction (RISE 1, FALL -1, NONE 0) after each price of `block`."""
        values = block.tolist()
        for series in self.series:
            series.seen = self.seen
            series.feed(block, values)
        self.seen += len(block)
        votes = np.stack([series.directions for series in self.series])
        rise = (votes == RISE).sum(axis=0)
        fall = (votes == FALL).sum(axis=0)
        # Where the consensus cannot trade whatever the confidences, it says NONE: enough votes must take one side.
        possible = np.flatnonzero((rise != fall) & (np.maximum(rise, fall) >= self.min_agreeing))
        directions = np.zeros(len(block), dtype=np.int8)
        if not len(possible):
            return directions
        # `combine` over the possible positions at once: each vote's confidence capped and rounded as
        # `cast` does (Python's own `round`), summed in the strategies' order as `combine` sums them.
        side = np.where(rise[possible] > fall[possible], RISE, FALL)
        agreeing = np.zeros(len(possible))
        opposing = np.zeros(len(possible))
        unsure = np.zeros(len(possible), dtype=bool)
        for series in self.series:
            voted = series.directions[possible]
            cast = voted != NONE
            confidence = np.zeros(len(possible))
            confidence[cast] = [round(min(c, 1.0), 4) for c in series.confidence[possible[cast]].tolist()]
            agreeing += np.where(voted == side, confidence, 0.0)
            opposing += np.where(cast & (voted != side), confidence, 0.0)
            unsure |= cast & series.unsure[possible]
        sided = np.maximum(rise, fall)[possible] + np.minimum(rise, fall)[possible]
        combined = [round(c, 9) for c in ((agreeing - opposing) / sided).tolist()]
        trades = np.array(combined) >= self.min_confidence
        directions[possible[trades]] = side[trades]
        for j in possible[unsure].tolist():
            directions[j] = direction_code(self.cast(j).direction)
        return directions

    def cast(self, j: int) -> Decision:
        """The consensus at position `j` of the latest block over the votes that took a side (abstentions blank)."""
        votes = tuple(
            series.vote(j) if series.directions[j] else blank
            for series, blank in zip(self.series, self.blank_abstentions, strict=True)
        )
        return combine(votes, self.min_agreeing, self.min_confidence)

    def decision(self, j: int) -> Decision:
        """The full decision at position `j` of the latest block, every vote and reason as the stream gives them."""
        return combine(tuple(series.vote(j) for series in self.series), self.min_agreeing, self.min_confidence)


class RegimeSeries:
    """`RegimeStream` over blocks of prices: `feed` a block, then `kinds` at the positions a decision needs."""

    def __init__(self, *, period: int = PERIOD, trend_at: float = TREND_AT, span: int = SPAN):
        self.period, self.trend_at, self.span = period, trend_at, span
        self.window = regime_window(period, span)
        self.ema_run = EmaRun(period)
        self.prices = Tail(span)
        self.emas = Tail(span)
        self.seen = 0

    def feed(self, block: np.ndarray) -> None:
        self.offset = len(self.prices.values)
        self.block_seen = self.seen
        self.price = self.prices.extend(block)
        self.ema = self.emas.extend(self.ema_run.feed(block.tolist()))
        self.seen += len(block)

    def regime(self, j: int) -> Regime:
        """The regime at position `j` of the latest block, exactly as the stream reads it."""
        seen = self.block_seen + j + 1
        if seen < self.window:
            return Regime(RegimeKind.SIDEWAYS, 0.0, f"only {seen} prices so far; {self.window} needed to tell a trend")
        q = self.offset + j
        window = self.price[q - self.span : q + 1].tolist()
        changes = [b - a for a, b in zip(window, window[1:], strict=False)]
        move = float(self.ema[q] - self.ema[q - self.span])
        return read_regime(move, stdev(changes), window[-1], period=self.period, span=self.span, trend_at=self.trend_at)

    def kinds(self, positions: list[int]) -> dict[int, str]:
        """The regime's kind at each of these positions of the latest block."""
        kinds: dict[int, str] = {}
        ready = [j for j in positions if self.block_seen + j + 1 >= self.window]
        for j in positions:
            if self.block_seen + j + 1 < self.window:
                kinds[j] = RegimeKind.SIDEWAYS
        if not ready:
            return kinds
        at = np.array(ready) + self.offset
        rows = self.price[at[:, None] + np.arange(-self.span, 1)]
        changes = np.diff(rows, axis=1)
        noise = window_stdevs_rows(changes)
        move = self.ema[at] - self.ema[at - self.span]
        last = self.price[at]
        yardstick = noise * math.sqrt(self.span)
        floor = 1e-9 * np.abs(last)
        with np.errstate(divide="ignore", invalid="ignore"):
            strength = np.abs(move) / yardstick
        trending = np.where(yardstick <= floor, move != 0, strength >= self.trend_at)
        uncertain = (np.abs(yardstick - floor) <= UNCERTAIN * floor) | (
            np.abs(strength - self.trend_at) <= UNCERTAIN * self.trend_at
        )
        for j, trend, move_j, unsure in zip(ready, trending.tolist(), move.tolist(), uncertain.tolist(), strict=True):
            if unsure:
                kinds[j] = self.regime(j).kind
            elif not trend:
                kinds[j] = RegimeKind.SIDEWAYS
            else:
                kinds[j] = RegimeKind.BULLISH if move_j > 0 else RegimeKind.BEARISH
        return kinds


def window_stdevs_rows(rows: np.ndarray) -> np.ndarray:
    """talipp's StdDev of each row, squaring with `*` (within about 1e-14 of it)."""
    width = rows.shape[1]
    total = np.zeros(rows.shape[0])
    for k in range(width):
        total += rows[:, k]
    mean = total / width
    spread = np.zeros(rows.shape[0])
    for k in range(width):
        deviation = rows[:, k] - mean
        spread += deviation * deviation
    return np.sqrt(spread / width)
