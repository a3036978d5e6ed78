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
