import re
from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    # Same values as the trading app's contract directions, plus NONE for "no trade".
    RISE = "RISE"
    FALL = "FALL"
    NONE = "NONE"


@dataclass(frozen=True)
class Vote:
    strategy: str
    direction: Direction
    confidence: float
    reason: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"a vote's confidence must be between 0 and 1, not {self.confidence}")


# A strategy that has not seen enough prices abstains, and the regime reads as
# sideways, with a reason worded "only N prices so far; ... M ..." (strategies.py,
# regime.py): `warmup_counts` reads N and M back for the pages.
_WARMING_UP = re.compile(r"only (\d+) prices so far; \D*(\d+)")


def warmup_counts(reason: str) -> tuple[int, int] | None:
    """(prices seen, prices needed) when `reason` says a vote or regime still lacks history, else None."""
    match = _WARMING_UP.match(reason or "")
    return (int(match.group(1)), int(match.group(2))) if match else None
