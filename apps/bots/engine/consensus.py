"""The consensus: turns the strategies' votes into one decision.

Combination rule: among the votes that took a side (NONE abstains), each vote
adds its confidence if it agrees with the majority direction and subtracts it
if it opposes; the combined confidence is that sum divided by the number of
votes that took a side. Two RISE votes at 0.8 give 0.8; add one FALL vote at
0.6 and it drops to (0.8 + 0.8 - 0.6) / 3 = 0.33.

A decision is RISE or FALL when at least `min_agreeing` votes agree, more of
them than oppose, and the combined confidence reaches `min_confidence`;
otherwise it is NONE with confidence 0 and a reason saying which test failed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from .votes import Direction, Vote

# Enum members looked up once: `combine` runs at every price of a backtest.
RISE, FALL, NONE = Direction.RISE, Direction.FALL, Direction.NONE


@dataclass(frozen=True)
class Decision:
    direction: Direction
    confidence: float
    votes: tuple[Vote, ...]
    reason: str


def decide(votes: Sequence[Vote], min_agreeing: int = 2, min_confidence: float | Decimal = 0.70) -> Decision:
    votes = tuple(votes)
    check_bounds(len(votes), min_agreeing, min_confidence)
    # Confidences are floats; a Decimal("0.70") threshold must not sit above the float 0.70.
    return combine(votes, min_agreeing, float(min_confidence))


def combine(votes: tuple[Vote, ...], min_agreeing: int, min_confidence: float) -> Decision:
    """`decide` on settings already checked (a decision stream checks them once, not at every price)."""
    rise, fall = [], []
    for vote in votes:
        if vote.direction == RISE:
            rise.append(vote)
        elif vote.direction == FALL:
            fall.append(vote)
    total = len(votes)
    if not rise and not fall:
        return Decision(NONE, 0.0, votes, f"none of the {total} strategies voted RISE or FALL")
    if len(rise) == len(fall):
        return Decision(
            NONE, 0.0, votes, f"the strategies are split: {len(rise)} voted RISE and {len(fall)} voted FALL"
        )
    if len(rise) > len(fall):
        (direction, agreeing), (opposite, opposing) = (RISE, rise), (FALL, fall)
    else:
        (direction, agreeing), (opposite, opposing) = (FALL, fall), (RISE, rise)
    tally = f"{len(agreeing)} of {total} strategies voted {direction}"
    if opposing:
        tally += f" and {len(opposing)} voted {opposite}"
    if len(agreeing) < min_agreeing:
        return Decision(NONE, 0.0, votes, f"only {tally} ({min_agreeing} needed)")
    net = sum(v.confidence for v in agreeing) - sum(v.confidence for v in opposing)
    # Rounding drops float noise, so three votes at 0.70 combine to exactly 0.70.
    combined = round(net / (len(agreeing) + len(opposing)), 9)
    if combined < min_confidence:
        return Decision(
            NONE,
            0.0,
            votes,
            f"{tally}, but their combined confidence {combined:.2f} is below {min_confidence:.2f}",
        )
    return Decision(direction, combined, votes, f"{tally}; combined confidence {combined:.2f}")


def check_bounds(strategies: int, min_agreeing: int, min_confidence: float | Decimal) -> None:
    """Raise ValueError unless the consensus settings make sense for this many strategies."""
    if strategies < 1:
        raise ValueError("a decision needs at least one strategy")
    if isinstance(min_agreeing, bool) or not isinstance(min_agreeing, int):
        raise ValueError(f"the number of agreeing votes must be a whole number, not {min_agreeing!r}")
    if not 1 <= min_agreeing <= strategies:
        raise ValueError(
            f"the number of agreeing votes must be between 1 and the number of strategies ({strategies}), "
            f"not {min_agreeing}"
        )
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, int | float | Decimal):
        raise ValueError(f"the confidence threshold must be a number, not {min_confidence!r}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"the confidence threshold must be between 0 and 1, not {min_confidence:g}")
