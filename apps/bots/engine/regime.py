"""The regime gatekeeper's view of a market: bullish, bearish or sideways, from its own recent prices.

The trend is how far an EMA moved across the window; the yardstick is how far
a random walk with the same tick noise would typically drift over as many
ticks (the standard deviation of the tick changes times the square root of the
number of ticks). A move under `trend_at` yardsticks is sideways. Confidence is
the distance from that boundary: for a trend it is full at twice `trend_at`,
for sideways it is full when the EMA did not move at all.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from talipp.indicators import EMA, StdDev


class RegimeKind(StrEnum):
    BULLISH = "BULLISH"
    BEARISH = "BEARISH"
    SIDEWAYS = "SIDEWAYS"


@dataclass(frozen=True)
class Regime:
    kind: RegimeKind
    confidence: float
    reason: str


def classify(prices: Sequence[Decimal | float], *, period: int = 20, trend_at: float = 2.0) -> Regime:
    if period < 2:
        raise ValueError(f"the regime's EMA period must be at least 2, not {period}")
    if trend_at <= 0:
        raise ValueError(f"the regime's trend threshold must be above 0, not {trend_at:g}")
    values = [float(p) for p in prices]
    if len(values) < 2 * period:
        return Regime(
            RegimeKind.SIDEWAYS, 0.0, f"only {len(values)} prices so far; {2 * period} needed to tell a trend"
        )
    ema = EMA(period, input_values=values)
    ticks = len(values) - period
    move = ema[-1] - ema[period - 1]
    changes = [b - a for a, b in pairwise(values)]
    noise = StdDev(len(changes), input_values=changes)[-1]
    yardstick = noise * math.sqrt(ticks)
    moved = f"over {ticks} ticks the EMA({period}) moved {move:+.4g}"
    # Steps that differ only by float rounding are even steps, not noise.
    if yardstick <= 1e-9 * abs(values[-1]):
        # Without noise any move at all is a trend, and no move is certainly sideways.
        if move == 0:
            return Regime(RegimeKind.SIDEWAYS, 1.0, f"prices did not move over {len(values)} ticks: sideways")
        return trend(move, 1.0, f"{moved} in even steps, with no noise")
    strength = abs(move) / yardstick
    measured = f"{moved}, {strength:.2f}× the {yardstick:.3g} that tick noise alone would drift"
    if strength < trend_at:
        confidence = 1 - strength / trend_at
        return Regime(RegimeKind.SIDEWAYS, round(confidence, 4), f"{measured} ({trend_at:g}× needed): sideways")
    return trend(move, min((strength - trend_at) / trend_at, 1.0), measured)


def trend(move: float, confidence: float, reason: str) -> Regime:
    kind = RegimeKind.BULLISH if move > 0 else RegimeKind.BEARISH
    return Regime(kind, round(confidence, 4), f"{reason}: {kind.lower()}")
