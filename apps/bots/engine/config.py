"""A strategy configuration: which strategies vote, with which parameters, and the consensus thresholds.

Bots with equal configurations share one decision per market and tick: `key`
names the configuration, so the worker evaluates each distinct one once and
fans the decision out. The live worker calls `evaluate` on a window of the
latest prices, oldest first; the backtest feeds a `stream()` one price at a
time. Both run the strategies' streams (strategies.py) and `decide`, and give
the same decision for the same latest prices.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from .consensus import Decision, check_bounds, combine, decide
from .regime import REGIME_WINDOW
from .strategies import STRATEGIES, Prices, Strategy, VoteStream, build

__all__ = ["REGIME_WINDOW", "DecisionConfig", "DecisionStream"]

DEFAULT_STRATEGIES: dict[str, dict] = {name: {} for name in STRATEGIES}
DEFAULT_MIN_AGREEING = 2
DEFAULT_MIN_CONFIDENCE = Decimal("0.70")


@dataclass(frozen=True)
class DecisionConfig:
    strategies: Mapping[str, Mapping[str, object]] = field(default_factory=lambda: dict(DEFAULT_STRATEGIES))
    min_agreeing: int = DEFAULT_MIN_AGREEING
    min_confidence: Decimal = DEFAULT_MIN_CONFIDENCE

    def __post_init__(self) -> None:
        # Builds every strategy once: an unknown name or a bad parameter raises ValueError here.
        check_bounds(len(self.built), self.min_agreeing, self.min_confidence)

    @cached_property
    def built(self) -> tuple[Strategy, ...]:
        return tuple(build(name, params) for name, params in sorted(self.strategies.items()))

    @cached_property
    def key(self) -> str:
        """Equal for equal configurations, whatever the order of strategies or parameters."""
        canonical = json.dumps(
            {
                "strategies": {name: self.built[i].params() for i, name in enumerate(sorted(self.strategies))},
                "min_agreeing": self.min_agreeing,
                "min_confidence": str(Decimal(self.min_confidence).quantize(Decimal("0.01"))),
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    @cached_property
    def window(self) -> int:
        """How many of the latest prices a decision reads."""
        return max(s.min_window for s in self.built)

    def evaluate(self, prices: Prices) -> Decision:
        """The decision on the latest prices; reads the last `window` of them."""
        return decide([s.vote(prices) for s in self.built], self.min_agreeing, self.min_confidence)

    def stream(self) -> "DecisionStream":
        """A stream of decisions, one per price added: what `evaluate` gives on the prices so far."""
        return DecisionStream(self)

    @classmethod
    def from_stored(
        cls, strategies: Mapping[str, Mapping[str, object]], min_agreeing: int, min_confidence
    ) -> "DecisionConfig":
        return cls(
            {name: dict(params or {}) for name, params in strategies.items()}, min_agreeing, Decimal(min_confidence)
        )


class DecisionStream:
    """`DecisionConfig.evaluate` over a stream of prices: each strategy's vote stream, then the consensus."""

    def __init__(self, config: DecisionConfig):
        self.config = config
        self.streams: tuple[VoteStream, ...] = tuple(s.stream() for s in config.built)
        # The settings were checked when the configuration was built.
        self.min_agreeing = config.min_agreeing
        self.min_confidence = float(config.min_confidence)

    def add(self, price: float) -> Decision:
        """Feed the next price; the decision on the prices so far."""
        for stream in self.streams:
            stream.add(price)
        return combine(tuple([stream.vote() for stream in self.streams]), self.min_agreeing, self.min_confidence)
