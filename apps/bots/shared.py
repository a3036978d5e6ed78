"""What the bots services and selectors both use; it imports neither, so neither imports the other's way back."""

from datetime import date
from functools import lru_cache

from django.utils import timezone

from .engine.config import DecisionConfig

# While someone has the signals monitor open, every active market is decided
# on, bots or not; otherwise only markets with running bots cost a cycle.
SIGNALS_WATCHED_KEY = "bots:signals-watched"


def today() -> date:
    return timezone.now().date()


@lru_cache(maxsize=1)
def monitor_decision() -> DecisionConfig:
    """All four strategies with their defaults: what the signals monitor shows on every market.

    Built once per process (building hashes every strategy's parameters); a
    data migration stores it as a `StrategyConfig` row.
    """
    return DecisionConfig()
