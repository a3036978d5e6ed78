"""Strategies: each turns a window of recent prices (oldest first) into a vote.

Every strategy votes through a stream (`stream()`): its talipp indicators fed
one price at a time with `add`, read by `vote`. The backtest feeds one stream
the whole series; `Strategy.vote(prices)`, which the live worker calls, feeds a
fresh stream the last `min_window` prices of its window. Same code either way,
and the same vote: `min_window` includes the warm-up the recursive indicators
(EMA, RSI) need to forget their start (see indicators.py), so a vote is a pure
function of the last `min_window` prices whatever came before them.
"""

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import pairwise
from typing import ClassVar

from talipp.indicators import EMA, RSI, DonchianChannels, StdDev
from talipp.ohlcv import OHLCV

from .indicators import EMA_WARMUP_PERIODS, RSI_WARMUP_PERIODS, TRIM_EVERY, trim
from .votes import Direction, Vote

Prices = Sequence[Decimal | float]


@dataclass(frozen=True)
class Strategy(ABC):
    name: ClassVar[str]
    # Inclusive (low, high) per parameter: checked here, and by the bot form before it builds one.
    bounds: ClassVar[Mapping[str, tuple[float, float]]] = {}

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            expected = (int,) if field.type is int else (int, float)
            if isinstance(value, bool) or not isinstance(value, expected):
                kind = "a whole number" if field.type is int else "a number"
                raise ValueError(f"{self.name}: {field.name} must be {kind}, not {value!r}")
            low, high = self.bounds[field.name]
            if not low <= value <= high:
                raise ValueError(f"{self.name}: {field.name} must be between {low:g} and {high:g}, not {value:g}")
        self.check()

    def params(self) -> dict[str, int | float]:
        """Every parameter with its value, defaults included."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def check(self) -> None:  # noqa: B027 - optional hook: most strategies have no cross-parameter rule
        """Rules between parameters; raise ValueError when one is broken."""

    @property
    @abstractmethod
    def min_window(self) -> int:
        """How many of the latest prices a vote reads (warm-up included)."""

    def vote(self, prices: Prices) -> Vote:
        """The vote on the last `min_window` prices: a fresh stream fed them."""
        stream = self.stream()
        for price in prices[-self.min_window :]:
            stream.add(float(price))
        return stream.vote()

    @abstractmethod
    def stream(self) -> "VoteStream":
        """A new stream of this strategy's votes, fed no price yet."""

    def cast(self, direction: Direction, confidence: float, reason: str) -> Vote:
        return Vote(self.name, direction, round(min(confidence, 1.0), 4), reason)

    def abstain(self, reason: str) -> Vote:
        return Vote(self.name, Direction.NONE, 0.0, reason)


class VoteStream(ABC):
    """A strategy's indicators over a stream of prices: `add` each price, `vote` on the latest."""

    def __init__(self, strategy: Strategy):
        self.strategy = strategy
        self.seen = 0

    def add(self, price: float) -> None:
        self.seen += 1
        self.update(price)
        if self.seen % TRIM_EVERY == 0:
            self.trim()

    def vote(self) -> Vote:
        strategy = self.strategy
        if self.seen < strategy.min_window:
            return strategy.abstain(f"only {self.seen} prices so far; {strategy.name} needs {strategy.min_window}")
        return self.decide()

    @abstractmethod
    def update(self, price: float) -> None:
        """Feed one price to the indicators."""

    @abstractmethod
    def decide(self) -> Vote:
        """The vote once at least `min_window` prices were fed."""

    def trim(self) -> None:  # noqa: B027 - optional hook: streams over deques hold bounded history already
        """Drop indicator history no vote reads again."""


@dataclass(frozen=True)
class Scalping(Strategy):
    """Short tick momentum: the last few ticks ran one way, ending in a streak.

    Confidence is the share of the recent ticks' travel that went that way,
    times their size relative to the usual tick (capped at 1).
    """

    name = "scalping"
    bounds = {"ticks": (2, 50), "min_streak": (1, 50), "lookback": (5, 500)}

    ticks: int = 5
    min_streak: int = 3
    lookback: int = 30  # how many ticks set the usual tick size

    def check(self) -> None:
        if self.min_streak > self.ticks:
            raise ValueError(f"scalping: min_streak ({self.min_streak}) cannot exceed ticks ({self.ticks})")
        if self.ticks >= self.lookback:
            raise ValueError(f"scalping: ticks ({self.ticks}) must be fewer than lookback ({self.lookback})")

    @property
    def min_window(self) -> int:
        return self.lookback + 1

    def stream(self) -> "VoteStream":
        return ScalpingStream(self)

    def judge(self, prices: list[float]) -> Vote:
        """The vote on exactly `min_window` prices."""
        recent = [b - a for a, b in pairwise(prices[-self.ticks - 1 :])]
        last = recent[-1]
        streak = 0
        for change in reversed(recent):
            if change == 0 or (change > 0) != (last > 0):
                break
            streak += 1
        if streak < self.min_streak:
            up, down = sum(c > 0 for c in recent), sum(c < 0 for c in recent)
            return self.abstain(
                f"the last {self.ticks} ticks went {up} up and {down} down, ending in a streak of {streak} "
                f"({self.min_streak} needed): no clear momentum"
            )
        rising = last > 0
        net = prices[-1] - prices[-self.ticks - 1]
        if net == 0 or (net > 0) != rising:
            return self.abstain(
                f"{streak} {'rising' if rising else 'falling'} ticks in a row, "
                f"but the last {self.ticks} ticks moved {net:+.6g} overall: no clear momentum"
            )
        travel = sum(abs(c) for c in recent)
        efficiency = abs(net) / travel
        # Recent against usual tick size: plain means over exactly `ticks` and
        # `lookback` changes, the same float operations as a talipp SMA over
        # exactly its period. Not a streaming SMA: talipp keeps that one as a
        # running sum, whose rounding drifts over a long backtest, so it would
        # no longer match the fresh window the live worker reads.
        usual = sum(abs(b - a) for a, b in pairwise(prices)) / self.lookback
        size = (travel / self.ticks) / usual
        return self.cast(
            Direction.RISE if rising else Direction.FALL,
            efficiency * min(size, 1.0),
            f"{streak} {'rising' if rising else 'falling'} ticks in a row; the last {self.ticks} ticks moved "
            f"{net:+.6g} net ({efficiency:.0%} of their travel) at {size:.2f}× the usual tick size",
        )


class ScalpingStream(VoteStream):
    strategy: Scalping

    def __init__(self, strategy: Scalping):
        super().__init__(strategy)
        self.prices: deque[float] = deque(maxlen=strategy.min_window)

    def update(self, price: float) -> None:
        self.prices.append(price)

    def decide(self) -> Vote:
        return self.strategy.judge(list(self.prices))


@dataclass(frozen=True)
class Momentum(Strategy):
    """Trend against volatility: a fast EMA away from a slow one by a good share of the price's spread.

    Strength is the EMA gap over the standard deviation of the last `slow`
    prices; confidence grows with it and is full at `full_strength`.
    """

    name = "momentum"
    bounds = {"fast": (2, 100), "slow": (3, 400), "min_strength": (0.0, 5.0), "full_strength": (0.1, 10.0)}

    fast: int = 9
    slow: int = 21
    min_strength: float = 0.2
    full_strength: float = 0.8

    def check(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"momentum: the fast EMA ({self.fast}) must be shorter than the slow one ({self.slow})")
        if self.min_strength >= self.full_strength:
            raise ValueError(
                f"momentum: min_strength ({self.min_strength:g}) must be below full_strength ({self.full_strength:g})"
            )

    @property
    def min_window(self) -> int:
        # Long enough for the slow EMA to forget its starting average (indicators.py).
        return EMA_WARMUP_PERIODS * self.slow

    def stream(self) -> "VoteStream":
        return MomentumStream(self)

    def judge(self, fast: float, slow: float, volatility: float) -> Vote:
        """The vote on the two EMAs and the standard deviation of the last `slow` prices."""
        gap = fast - slow
        if volatility == 0:
            return self.abstain(f"prices were flat over the last {self.slow} ticks: no trend")
        strength = abs(gap) / volatility
        numbers = (
            f"EMA({self.fast})={fast:.6g} is {gap:+.3g} from EMA({self.slow})={slow:.6g}, "
            f"{strength:.2f}× the volatility {volatility:.3g}"
        )
        if strength < self.min_strength:
            return self.abstain(f"{numbers} ({self.min_strength:g}× needed): no clear trend")
        rising = gap > 0
        return self.cast(
            Direction.RISE if rising else Direction.FALL,
            strength / self.full_strength,
            f"{numbers}: {'up' if rising else 'down'}trend",
        )


class MomentumStream(VoteStream):
    strategy: Momentum

    def __init__(self, strategy: Momentum):
        super().__init__(strategy)
        self.fast = EMA(strategy.fast)
        self.slow = EMA(strategy.slow)
        self.volatility = StdDev(strategy.slow)
        # The standard deviation reads only the last `slow` prices: a fresh
        # window feeds it those alone instead of recomputing it at every price.
        self.volatility_from = strategy.min_window - strategy.slow

    def update(self, price: float) -> None:
        self.fast.add(price)
        self.slow.add(price)
        if self.seen > self.volatility_from:
            self.volatility.add(price)

    def decide(self) -> Vote:
        return self.strategy.judge(self.fast[-1], self.slow[-1], self.volatility[-1])

    def trim(self) -> None:
        keep = 2 * self.strategy.slow + 2
        for indicator in (self.fast, self.slow, self.volatility):
            trim(indicator, keep)


@dataclass(frozen=True)
class Breakout(Strategy):
    """Range break: the latest price leaves the previous `period` ticks' high-low range by a margin.

    The margin is a share of the range's width. Confidence is 0.5 at the edge of
    the range plus how far past it the price went, in range widths (capped at 1).
    """

    name = "breakout"
    bounds = {"period": (5, 500), "margin": (0.0, 1.0)}

    period: int = 20
    margin: float = 0.1

    @property
    def min_window(self) -> int:
        return self.period + 1

    def stream(self) -> "VoteStream":
        return BreakoutStream(self)

    def judge(self, low: float, high: float, price: float) -> Vote:
        """The vote on the previous `period` prices' range and the latest price."""
        width = high - low
        if width == 0:
            return self.abstain(f"the last {self.period} ticks did not move: no range to break")
        span = f"the {self.period}-tick range {low:.6g}–{high:.6g}"
        for past, direction, side in ((price - high, Direction.RISE, "above"), (low - price, Direction.FALL, "below")):
            if past > self.margin * width:
                return self.cast(
                    direction,
                    0.5 + past / width,
                    f"price {price:.6g} broke {past:.3g} ({past / width:.0%} of its width) {side} {span}",
                )
        return self.abstain(
            f"price {price:.6g} has not left {span} by its {self.margin:.0%} margin ({self.margin * width:.3g}): "
            "no breakout"
        )


class BreakoutStream(VoteStream):
    strategy: Breakout

    def __init__(self, strategy: Breakout):
        super().__init__(strategy)
        # The channel runs one price behind: it holds the range the latest price may break.
        self.channel = DonchianChannels(strategy.period)
        self.price: float | None = None

    def update(self, price: float) -> None:
        if self.price is not None:
            self.channel.add(OHLCV(self.price, self.price, self.price, self.price))
        self.price = price

    def decide(self) -> Vote:
        channel = self.channel[-1]
        return self.strategy.judge(channel.lb, channel.ub, self.price)

    def trim(self) -> None:
        trim(self.channel, self.strategy.period + 2)


@dataclass(frozen=True)
class DualRSI(Strategy):
    """Two RSIs in agreement: both oversold votes RISE, both overbought votes FALL.

    Confidence is 0.5 at the threshold plus how far the less extreme RSI went
    past it, as a share of the way to 0 (or 100); full halfway there.
    """

    name = "dual_rsi"
    bounds = {"fast": (2, 100), "slow": (3, 200), "oversold": (1.0, 49.0), "overbought": (51.0, 99.0)}

    fast: int = 9
    slow: int = 14
    oversold: float = 30.0
    overbought: float = 70.0

    def check(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"dual_rsi: the fast RSI ({self.fast}) must be shorter than the slow one ({self.slow})")

    @property
    def min_window(self) -> int:
        # Long enough for Wilder's smoothing to forget its starting averages (indicators.py).
        return RSI_WARMUP_PERIODS * self.slow

    @property
    def flat_span(self) -> int:
        """Prices that must all be equal for the RSIs to mean nothing."""
        return 3 * self.slow

    def stream(self) -> "VoteStream":
        return DualRSIStream(self)

    def judge(self, fast: float, slow: float) -> Vote:
        """The vote on the two RSIs."""
        both = f"RSI({self.fast})={fast:.1f} and RSI({self.slow})={slow:.1f}"
        fast_state, slow_state = self.state(fast), self.state(slow)
        if fast_state == slow_state == "oversold":
            depth = (self.oversold - max(fast, slow)) / self.oversold
            return self.cast(Direction.RISE, 0.5 + depth, f"{both} both below {self.oversold:g}: oversold")
        if fast_state == slow_state == "overbought":
            depth = (min(fast, slow) - self.overbought) / (100 - self.overbought)
            return self.cast(Direction.FALL, 0.5 + depth, f"{both} both above {self.overbought:g}: overbought")
        if fast_state and slow_state:
            return self.abstain(f"{both} are at opposite extremes: they disagree")
        if fast_state:
            return self.abstain(f"{both}: only the first is {fast_state}, so they disagree")
        if slow_state:
            return self.abstain(f"{both}: only the second is {slow_state}, so they disagree")
        return self.abstain(f"{both} are both between {self.oversold:g} and {self.overbought:g}: no extreme")

    def state(self, rsi: float) -> str | None:
        if rsi < self.oversold:
            return "oversold"
        if rsi > self.overbought:
            return "overbought"
        return None


class DualRSIStream(VoteStream):
    strategy: DualRSI

    def __init__(self, strategy: DualRSI):
        super().__init__(strategy)
        self.fast = RSI(strategy.fast)
        self.slow = RSI(strategy.slow)
        self.price: float | None = None
        self.unchanged = 0  # how many of the latest prices are equal

    def update(self, price: float) -> None:
        self.unchanged = self.unchanged + 1 if price == self.price else 1
        self.price = price
        self.fast.add(price)
        self.slow.add(price)

    def decide(self) -> Vote:
        strategy = self.strategy
        if self.unchanged >= strategy.flat_span:
            # Flat prices leave the RSIs where the last move put them (or at 100): stale, not a signal.
            return strategy.abstain(f"prices did not move over the last {strategy.flat_span} ticks: RSI is undefined")
        return strategy.judge(self.fast[-1], self.slow[-1])

    def trim(self) -> None:
        keep = 2 * self.strategy.slow + 2
        trim(self.fast, keep)
        trim(self.slow, keep)


STRATEGIES: dict[str, type[Strategy]] = {
    "scalping": Scalping,
    "momentum": Momentum,
    "breakout": Breakout,
    "dual_rsi": DualRSI,
}


def build(name: str, params: Mapping[str, object] | None = None) -> Strategy:
    """The strategy registered as `name`, with `params` over its defaults.

    Raises ValueError for an unknown name or parameter, or a value out of bounds.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    cls = STRATEGIES[name]
    params = dict(params or {})
    unknown = sorted(set(params) - {field.name for field in fields(cls)})
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}")
    return cls(**params)
