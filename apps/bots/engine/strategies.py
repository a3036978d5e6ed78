"""Strategies: each turns a window of recent prices (oldest first) into a vote.

A strategy reads only the last `min_window` prices of the window it is given
and builds its indicators afresh from them, so a vote is a pure function of
those prices: the live worker and a backtest agree even when they keep windows
of different lengths.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from itertools import pairwise
from typing import ClassVar

from talipp.indicators import EMA, RSI, SMA, DonchianChannels, StdDev
from talipp.ohlcv import OHLCV

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
        """How many of the latest prices a vote reads."""

    def vote(self, prices: Prices) -> Vote:
        if len(prices) < self.min_window:
            return self.abstain(f"only {len(prices)} prices so far; {self.name} needs {self.min_window}")
        return self.decide([float(p) for p in prices[-self.min_window :]])

    @abstractmethod
    def decide(self, prices: list[float]) -> Vote:
        """The vote on exactly `min_window` prices."""

    def cast(self, direction: Direction, confidence: float, reason: str) -> Vote:
        return Vote(self.name, direction, round(min(confidence, 1.0), 4), reason)

    def abstain(self, reason: str) -> Vote:
        return Vote(self.name, Direction.NONE, 0.0, reason)


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

    def decide(self, prices: list[float]) -> Vote:
        changes = [b - a for a, b in pairwise(prices)]
        recent = changes[-self.ticks :]
        up, down = sum(c > 0 for c in recent), sum(c < 0 for c in recent)
        streak = 0
        for change in reversed(recent):
            if change == 0 or (change > 0) != (recent[-1] > 0):
                break
            streak += 1
        if streak < self.min_streak:
            return self.abstain(
                f"the last {self.ticks} ticks went {up} up and {down} down, ending in a streak of {streak} "
                f"({self.min_streak} needed): no clear momentum"
            )
        rising = recent[-1] > 0
        net = prices[-1] - prices[-self.ticks - 1]
        if net == 0 or (net > 0) != rising:
            return self.abstain(
                f"{streak} {'rising' if rising else 'falling'} ticks in a row, "
                f"but the last {self.ticks} ticks moved {net:+.6g} overall: no clear momentum"
            )
        sizes = [abs(c) for c in changes]
        efficiency = abs(net) / sum(sizes[-self.ticks :])
        # Each SMA sees exactly its period, so both are plain means with no running-sum drift.
        size = SMA(self.ticks, input_values=sizes[-self.ticks :])[-1] / SMA(self.lookback, input_values=sizes)[-1]
        return self.cast(
            Direction.RISE if rising else Direction.FALL,
            efficiency * min(size, 1.0),
            f"{streak} {'rising' if rising else 'falling'} ticks in a row; the last {self.ticks} ticks moved "
            f"{net:+.6g} net ({efficiency:.0%} of their travel) at {size:.2f}× the usual tick size",
        )


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
        # Twice the slow period lets the slow EMA move on from its starting average.
        return 2 * self.slow

    def decide(self, prices: list[float]) -> Vote:
        fast = EMA(self.fast, input_values=prices)[-1]
        slow = EMA(self.slow, input_values=prices)[-1]
        volatility = StdDev(self.slow, input_values=prices)[-1]
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

    def decide(self, prices: list[float]) -> Vote:
        channel = DonchianChannels(self.period, input_values=[OHLCV(p, p, p, p) for p in prices[:-1]])[-1]
        low, high, price = channel.lb, channel.ub, prices[-1]
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
        # Wilder's smoothing takes a few periods to forget its starting average.
        return 3 * self.slow

    def decide(self, prices: list[float]) -> Vote:
        if max(prices) == min(prices):
            # With no losses RSI reads 100; with no moves at all it means nothing.
            return self.abstain(f"prices did not move over the last {len(prices)} ticks: RSI is undefined")
        fast = RSI(self.fast, input_values=prices)[-1]
        slow = RSI(self.slow, input_values=prices)[-1]
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
