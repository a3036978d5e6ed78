"""A strategy configuration: which strategies vote, with which parameters, and the consensus thresholds.

Bots with equal configurations share one decision per market and tick: `key`
names the configuration, so the worker evaluates each distinct one once and
fans the decision out. Live trading and the backtest both go through
`evaluate`, on a window of the latest prices, oldest first.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from .consensus import Decision, check_bounds, decide
from .strategies import STRATEGIES, Prices, Strategy, build

# Prices the regime gatekeeper reads: enough for its EMA(20) to settle and a
# trend to show over a minute or two of one-second ticks.
REGIME_WINDOW = 120

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
        return decide([s.vote(prices) for s in self.built], self.min_agreeing, self.min_confidence)

    @classmethod
    def from_stored(
        cls, strategies: Mapping[str, Mapping[str, object]], min_agreeing: int, min_confidence
    ) -> "DecisionConfig":
        return cls(
            {name: dict(params or {}) for name, params in strategies.items()}, min_agreeing, Decimal(min_confidence)
        )
