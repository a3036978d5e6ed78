"""The regime gatekeeper's view of a market: bullish, bearish or sideways, from its own recent prices.

The trend is how far an EMA moved over the last `span` ticks; the yardstick is
how far a random walk with the same tick noise would typically drift over as
many ticks (the standard deviation of those ticks' changes times the square
root of `span`). A move under `trend_at` yardsticks is sideways. Confidence is
the distance from that boundary: for a trend it is full at twice `trend_at`,
for sideways it is full when the EMA did not move at all.

Like the strategies, the regime is read from a stream (`RegimeStream`: `add`
each price, `regime()` when needed); `classify(prices)` feeds a fresh one the
last `regime_window()` prices, which include the EMA's warm-up, so a live
window and a long-running backtest stream classify alike.
"""

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from talipp.indicators import EMA, StdDev

from .indicators import EMA_WARMUP_PERIODS, TRIM_EVERY, trim

PERIOD = 20
SPAN = 100
TREND_AT = 2.0


class RegimeKind(StrEnum):
    BULLISH = "BULLISH"
    BEARISH = "BEARISH"
    SIDEWAYS = "SIDEWAYS"


@dataclass(frozen=True)
class Regime:
    kind: RegimeKind
    confidence: float
    reason: str


def regime_window(period: int = PERIOD, span: int = SPAN) -> int:
    """How many of the latest prices a regime reads: the EMA's warm-up, then the span it is measured over."""
    return EMA_WARMUP_PERIODS * period + span


# Prices the gatekeeper reads with its default settings: 740, a little over 12
# minutes of one-second ticks.
REGIME_WINDOW = regime_window()


class RegimeStream:
    """The regime over a stream of prices: `add` each price; `regime()` reads the latest prices."""

    def __init__(self, *, period: int = PERIOD, trend_at: float = TREND_AT, span: int = SPAN):
        if period < 2:
            raise ValueError(f"the regime's EMA period must be at least 2, not {period}")
        if trend_at <= 0:
            raise ValueError(f"the regime's trend threshold must be above 0, not {trend_at:g}")
        if span < 2:
            raise ValueError(f"the regime's span must be at least 2 ticks, not {span}")
        self.period, self.trend_at, self.span = period, trend_at, span
        self.window = regime_window(period, span)
        self.seen = 0
        self.ema = EMA(period)
        # The EMA and the price, now and `span` ticks ago.
        self.emas: deque[float] = deque(maxlen=span + 1)
        self.prices: deque[float] = deque(maxlen=span + 1)

    def add(self, price: float) -> None:
        self.seen += 1
        self.ema.add(price)
        self.emas.append(self.ema[-1])
        self.prices.append(price)
        if self.seen % TRIM_EVERY == 0:
            trim(self.ema, self.period + 2)

    def regime(self) -> Regime:
        if self.seen < self.window:
            return Regime(
                RegimeKind.SIDEWAYS, 0.0, f"only {self.seen} prices so far; {self.window} needed to tell a trend"
            )
        move = self.emas[-1] - self.emas[0]
        changes = [b - a for a, b in pairwise(self.prices)]
        noise = StdDev(self.span, input_values=changes)[-1]
        return read_regime(move, noise, self.prices[-1], period=self.period, span=self.span, trend_at=self.trend_at)


def read_regime(move: float, noise: float, price: float, *, period: int, span: int, trend_at: float) -> Regime:
    """The regime from the EMA's move over `span` ticks, the standard deviation of those ticks' changes, the price."""
    yardstick = noise * math.sqrt(span)
    moved = f"over {span} ticks the EMA({period}) moved {move:+.4g}"
    # Steps that differ only by float rounding are even steps, not noise.
    if yardstick <= 1e-9 * abs(price):
        # Without noise any move at all is a trend, and no move is certainly sideways.
        if move == 0:
            return Regime(RegimeKind.SIDEWAYS, 1.0, f"prices did not move over the last {span} ticks: sideways")
        return trend(move, 1.0, f"{moved} in even steps, with no noise")
    strength = abs(move) / yardstick
    measured = f"{moved}, {strength:.2f}× the {yardstick:.3g} that tick noise alone would drift"
    if strength < trend_at:
        confidence = 1 - strength / trend_at
        return Regime(RegimeKind.SIDEWAYS, round(confidence, 4), f"{measured} ({trend_at:g}× needed): sideways")
    return trend(move, min((strength - trend_at) / trend_at, 1.0), measured)


def classify(
    prices: Sequence[Decimal | float], *, period: int = PERIOD, trend_at: float = TREND_AT, span: int = SPAN
) -> Regime:
    """The regime of the last `regime_window(period, span)` prices."""
    stream = RegimeStream(period=period, trend_at=trend_at, span=span)
    for price in prices[-stream.window :]:
        stream.add(float(price))
    return stream.regime()


def trend(move: float, confidence: float, reason: str) -> Regime:
    kind = RegimeKind.BULLISH if move > 0 else RegimeKind.BEARISH
    return Regime(kind, round(confidence, 4), f"{reason}: {kind.lower()}")
