"""The consensus: at least two agreeing votes and combined confidence of 0.70 by default."""

import re
from decimal import Decimal

import pytest

from apps.bots.engine.consensus import decide
from apps.bots.engine.votes import Direction, Vote

RISE, FALL, NONE = Direction.RISE, Direction.FALL, Direction.NONE


def votes(*cast: tuple[Direction, float]) -> list[Vote]:
    return [Vote(f"s{i}", direction, confidence, "because") for i, (direction, confidence) in enumerate(cast)]


def test_exactly_two_agreeing_votes_at_the_threshold_pass():
    decision = decide(votes((RISE, 0.70), (RISE, 0.70), (NONE, 0.0), (NONE, 0.0)))
    assert (decision.direction, decision.confidence) == (RISE, 0.70)
    assert decision.reason == "2 of 4 strategies voted RISE; combined confidence 0.70"


def test_three_votes_at_the_threshold_pass_despite_float_rounding():
    assert decide(votes((FALL, 0.70), (FALL, 0.70), (FALL, 0.70))).direction == FALL


def test_a_single_agreeing_vote_is_not_enough_by_default():
    decision = decide(votes((RISE, 0.95), (NONE, 0.0), (NONE, 0.0), (NONE, 0.0)))
    assert (decision.direction, decision.confidence) == (NONE, 0.0)
    assert decision.reason == "only 1 of 4 strategies voted RISE (2 needed)"


def test_a_single_vote_can_decide_when_one_agreeing_vote_is_allowed():
    assert decide(votes((RISE, 0.80), (NONE, 0.0)), min_agreeing=1).direction == RISE


def test_agreeing_votes_below_the_threshold_do_not_trade():
    decision = decide(votes((FALL, 0.69), (FALL, 0.70)))
    assert decision.direction == NONE
    assert decision.reason == "2 of 2 strategies voted FALL, but their combined confidence 0.69 is below 0.70"


def test_an_opposing_vote_pulls_the_combined_confidence_below_the_threshold():
    decision = decide(votes((RISE, 0.90), (RISE, 0.90), (FALL, 0.60)))
    assert decision.direction == NONE
    assert decision.reason == (
        "2 of 3 strategies voted RISE and 1 voted FALL, but their combined confidence 0.40 is below 0.70"
    )


def test_a_weak_opposing_vote_can_still_be_outvoted():
    decision = decide(votes((RISE, 1.0), (RISE, 1.0), (RISE, 1.0), (FALL, 0.1)))
    assert (decision.direction, decision.confidence) == (RISE, 0.725)
    assert decision.reason == "3 of 4 strategies voted RISE and 1 voted FALL; combined confidence 0.72"


def test_abstaining_votes_neither_help_nor_hurt():
    with_abstentions = decide(votes((RISE, 0.8), (RISE, 0.9), (NONE, 0.0), (NONE, 0.0)))
    assert with_abstentions.confidence == decide(votes((RISE, 0.8), (RISE, 0.9))).confidence == 0.85


def test_an_even_split_does_not_trade():
    decision = decide(votes((RISE, 0.9), (RISE, 0.9), (FALL, 0.9), (FALL, 0.9)))
    assert decision.direction == NONE
    assert decision.reason == "the strategies are split: 2 voted RISE and 2 voted FALL"


def test_no_trade_when_every_strategy_abstains():
    decision = decide(votes((NONE, 0.0), (NONE, 0.0), (NONE, 0.0), (NONE, 0.0)))
    assert (decision.direction, decision.confidence) == (NONE, 0.0)
    assert decision.reason == "none of the 4 strategies voted RISE or FALL"


def test_the_decision_keeps_every_vote_including_abstentions():
    cast = votes((RISE, 0.8), (RISE, 0.9), (NONE, 0.0), (FALL, 0.1))
    assert decide(cast).votes == tuple(cast)


def test_a_decimal_threshold_is_accepted():
    assert decide(votes((RISE, 0.7), (RISE, 0.7)), min_confidence=Decimal("0.70")).direction == RISE


@pytest.mark.parametrize(
    ("min_agreeing", "min_confidence", "message"),
    [
        (0, 0.7, "between 1 and the number of strategies (3), not 0"),
        (4, 0.7, "between 1 and the number of strategies (3), not 4"),
        (1.5, 0.7, "must be a whole number"),
        (2, -0.1, "between 0 and 1, not -0.1"),
        (2, 1.01, "between 0 and 1, not 1.01"),
        (2, "0.7", "must be a number"),
    ],
)
def test_out_of_range_settings_are_refused(min_agreeing, min_confidence, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        decide(votes((RISE, 0.9), (RISE, 0.9), (NONE, 0.0)), min_agreeing, min_confidence)


def test_a_decision_needs_at_least_one_strategy():
    with pytest.raises(ValueError, match="at least one strategy"):
        decide([])


@pytest.mark.parametrize("confidence", [-0.01, 1.01])
def test_a_vote_refuses_a_confidence_outside_0_to_1(confidence):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Vote("momentum", RISE, confidence, "because")
