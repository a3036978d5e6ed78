"""The fake's clock and its deterministic synthetic indices."""

import math
import random
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass


class FakeClock:
    """Epoch seconds that either follow real time (times `speed`) or stand still until advanced.

    Deriv's contract and tick timing all read this clock, so a test freezes it
    and advances it by whole seconds: a 10-tick contract settles in milliseconds.
    """

    def __init__(self, start: float | None = None, *, speed: float = 1.0, frozen: bool = False):
        self._lock = threading.Lock()
        self._base = time.time() if start is None else float(start)
        self._mono = time.monotonic()
        self._speed = speed
        self._frozen = frozen

    def now(self) -> float:
        with self._lock:
            if self._frozen:
                return self._base
            return self._base + (time.monotonic() - self._mono) * self._speed

    def freeze(self) -> None:
        with self._lock:
            if not self._frozen:
                self._base += (time.monotonic() - self._mono) * self._speed
                self._frozen = True

    def unfreeze(self, speed: float | None = None) -> None:
        with self._lock:
            if self._frozen:
                self._mono = time.monotonic()
                self._frozen = False
            if speed is not None:
                self._base += (time.monotonic() - self._mono) * self._speed
                self._mono = time.monotonic()
                self._speed = speed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._base += seconds

    @property
    def frozen(self) -> bool:
        return self._frozen


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    name: str
    interval: int  # seconds between ticks
    pip_size: int  # decimals
    start: float
    volatility: float  # annual, 0.10 for "Volatility 10"


def _specs() -> dict[str, SymbolSpec]:
    specs = {}
    decimals = {10: 3, 25: 3, 50: 4, 75: 4, 100: 2}
    starts = {10: 6234.567, 25: 2345.678, 50: 236.0711, 75: 43210.1234, 100: 842.28}
    for vol in (10, 25, 50, 75, 100):
        specs[f"R_{vol}"] = SymbolSpec(f"R_{vol}", f"Volatility {vol} Index", 2, decimals[vol], starts[vol], vol / 100)
        specs[f"1HZ{vol}V"] = SymbolSpec(
            f"1HZ{vol}V", f"Volatility {vol} (1s) Index", 1, 2, starts[vol] * 1.5, vol / 100
        )
    return specs


SYMBOLS = _specs()
_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Tick:
    symbol: str
    epoch: int
    quote: float


class TickSeries:
    """One symbol's seeded random walk on a fixed schedule (every `interval` seconds).

    A few percent of steps repeat the previous quote, so "exit equals entry"
    happens naturally; `inject` queues exact quotes for the next ticks.
    """

    EQUAL_QUOTE_PROBABILITY = 0.05

    def __init__(self, spec: SymbolSpec, seed: int, first_epoch: int, history_seconds: int, max_ticks: int = 20000):
        self.spec = spec
        self.rng = random.Random(seed * 1_000_003 + zlib.crc32(spec.symbol.encode()))
        self.ticks: deque[Tick] = deque(maxlen=max_ticks)
        self.injected: deque[float] = deque()
        self._quote = spec.start
        start = first_epoch - history_seconds
        self._next_epoch = start - start % spec.interval + spec.interval
        self.generate_until(first_epoch)

    def _step(self) -> float:
        if self.injected:
            self._quote = self.injected.popleft()
            return self._quote
        if self.rng.random() >= self.EQUAL_QUOTE_PROBABILITY:
            sigma = self.spec.volatility * math.sqrt(self.spec.interval / _YEAR)
            # Synthetic indices move a little more per tick than that at low volatility; keep quotes lively.
            sigma = max(sigma, 0.0004)
            self._quote *= 1 + sigma * self.rng.gauss(0, 1)
        self._quote = round(self._quote, self.spec.pip_size)
        return self._quote

    def generate_until(self, now: float) -> list[Tick]:
        new = []
        while self._next_epoch <= now:
            tick = Tick(self.spec.symbol, self._next_epoch, self._step())
            self.ticks.append(tick)
            new.append(tick)
            self._next_epoch += self.spec.interval
        return new

    def inject(self, quotes) -> None:
        self.injected.extend(round(float(q), self.spec.pip_size) for q in quotes)

    @property
    def last(self) -> Tick:
        return self.ticks[-1]

    def between(self, start: int, end: int) -> list[Tick]:
        return [t for t in self.ticks if start <= t.epoch <= end]


def fmt_quote(quote: float, pip_size: int) -> str:
    return f"{quote:.{pip_size}f}"
