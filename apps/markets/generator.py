"""Synthetic OTC prices: a random walk whose step scales with the price.

With a seed, the same seed, start price and settings give the same series, so
a backtest (and a test) can be reproduced exactly. Without one, the walk draws
from the operating system's CSPRNG: the live feed's prices are public and
contracts are settled on them, so anyone who could recompute the generator's
state from its seed would know the next ticks.
"""

import random
from dataclasses import dataclass
from decimal import Decimal

STEP_SCALE = {"LOW": 0.0001, "MEDIUM": 0.0005, "HIGH": 0.001, "SPIKE": 0.003}
SPIKE_PROBABILITY = 0.02
SPIKE_FACTOR = 3.0
# A bias of ±1 shifts each step's mean by this many standard deviations.
DRIFT_PER_BIAS = 0.2


@dataclass
class GeneratorSettings:
    volatility_mode: str
    trend_bias: float
    decimals: int


class PriceGenerator:
    def __init__(self, *, seed: int | None, price: Decimal, settings: GeneratorSettings):
        # SystemRandom has no state to recover or seed to leak: every draw is fresh from the OS.
        self.rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self.price = Decimal(price)
        self.settings = settings

    def next(self) -> Decimal:
        s = self.settings
        price = float(self.price)
        step = price * STEP_SCALE[s.volatility_mode]
        move = self.rng.gauss(DRIFT_PER_BIAS * s.trend_bias, 1.0) * step
        if s.volatility_mode == "SPIKE" and self.rng.random() < SPIKE_PROBABILITY:
            move *= SPIKE_FACTOR
        quantum = Decimal(1).scaleb(-s.decimals)
        # A price never falls below one quantum: synthetic prices stay positive.
        self.price = max(Decimal(repr(price + move)).quantize(quantum), quantum)
        return self.price

    def series(self, n: int) -> list[Decimal]:
        return [self.next() for _ in range(n)]
