"""Each strategy on crafted price series with known answers."""

import random
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.bots.engine.strategies import STRATEGIES, Breakout, DualRSI, Momentum, Scalping, build
from apps.bots.engine.votes import Direction


def series(*steps: float, n: int, start: float = 100.0) -> list[float]:
    """`n` prices from `start`, moving by `steps` in turn."""
    prices = [start]
    for i in range(n - 1):
        prices.append(prices[-1] + steps[i % len(steps)])
    return prices


def random_walk(n: int, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return series(*(rng.gauss(0, 0.1) for _ in range(n)), n=n)


# Longer than every strategy's default window: momentum and dual RSI read
# hundreds of prices, most of them to warm up their EMAs and RSIs.
LONG = 1000
RISING = series(0.1, n=LONG)
FALLING = series(-0.1, n=LONG)
FLAT = [100.0] * LONG
OSCILLATING = series(0.5, -0.5, n=LONG)


def test_the_default_windows_are_shorter_than_the_crafted_series():
    assert max(build(name).min_window for name in STRATEGIES) <= LONG


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_abstains_when_the_window_is_too_short(name):
    strategy = build(name)
    vote = strategy.vote(RISING[: strategy.min_window - 1])
    assert (vote.direction, vote.confidence) == (Direction.NONE, 0.0)
    assert f"needs {strategy.min_window}" in vote.reason


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_gives_the_same_vote_for_the_same_window(name):
    window = random_walk(2 * LONG)
    assert build(name).vote(window) == build(name).vote(list(window))


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_vote_reads_only_the_last_min_window_prices(name):
    strategy, window = build(name), random_walk(2 * LONG, seed=3)
    assert strategy.vote(window) == strategy.vote(window[-strategy.min_window :])


@pytest.mark.parametrize("name", STRATEGIES)
def test_decimal_prices_vote_like_the_same_floats(name):
    decimals = [Decimal(f"{p:.4f}") for p in random_walk(LONG, seed=5)]
    assert build(name).vote(decimals) == build(name).vote([float(p) for p in decimals])


@given(
    st.lists(st.floats(min_value=0.01, max_value=1e6), max_size=80),
    st.sampled_from(sorted(STRATEGIES)),
    st.booleans(),
)
def test_any_positive_prices_give_a_vote_with_a_reason(prices, name, repeat):
    # Repeated to fill the window, so momentum and dual RSI vote on them too.
    if repeat and prices:
        prices = prices * (LONG // len(prices) + 1)
    vote = build(name).vote(prices)
    assert 0.0 <= vote.confidence <= 1.0
    assert vote.reason
    if vote.direction == Direction.NONE:
        assert vote.confidence == 0.0


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_abstains_on_flat_prices(name):
    assert build(name).vote(FLAT).direction == Direction.NONE


# Scalping


def test_scalping_rises_with_full_confidence_on_a_steady_rise():
    vote = Scalping().vote(RISING)
    assert (vote.direction, vote.confidence) == (Direction.RISE, 1.0)
    assert vote.reason.startswith("5 rising ticks in a row")


def test_scalping_falls_with_full_confidence_on_a_steady_fall():
    vote = Scalping().vote(FALLING)
    assert (vote.direction, vote.confidence) == (Direction.FALL, 1.0)


def test_scalping_abstains_when_ticks_oscillate():
    vote = Scalping().vote(OSCILLATING)
    assert vote.direction == Direction.NONE
    assert "streak of 1 (3 needed)" in vote.reason


def test_scalping_abstains_on_a_streak_shorter_than_required():
    vote = Scalping().vote(series(1, -1, n=29) + [100.5, 101])
    assert vote.direction == Direction.NONE
    assert "streak of 2" in vote.reason


def test_scalping_abstains_when_the_streak_runs_against_the_recent_net_move():
    vote = Scalping().vote(series(1, -1, n=27) + [97, 94, 94.5, 95, 95.5])
    assert vote.direction == Direction.NONE
    assert "moved -4.5 overall" in vote.reason


def test_scalping_is_less_confident_when_the_streak_ticks_are_smaller_than_usual():
    vote = Scalping().vote(series(1, -1, n=27) + [100.2, 100.4, 100.6, 100.8, 101.0])
    assert vote.direction == Direction.RISE
    assert vote.confidence == pytest.approx(0.2308, abs=1e-4)
    assert "0.23× the usual tick size" in vote.reason


# Momentum


def test_momentum_rises_on_a_steady_rise():
    vote = Momentum().vote(RISING)
    assert (vote.direction, vote.confidence) == (Direction.RISE, 1.0)
    assert vote.reason.endswith("uptrend")


def test_momentum_falls_on_a_steady_fall():
    vote = Momentum().vote(FALLING)
    assert (vote.direction, vote.confidence) == (Direction.FALL, 1.0)
    assert vote.reason.endswith("downtrend")


def test_momentum_abstains_when_prices_oscillate_around_a_level():
    vote = Momentum().vote(OSCILLATING)
    assert vote.direction == Direction.NONE
    assert "no clear trend" in vote.reason


def test_momentum_confidence_shrinks_as_noise_grows_against_the_trend():
    vote = Momentum().vote(series(0.4, -0.35, n=700))
    assert vote.direction == Direction.RISE
    assert vote.confidence == pytest.approx(0.8404, abs=1e-4)
    assert "0.67× the volatility" in vote.reason


# Breakout

RANGE = series(2, -2, n=20, start=99.0)  # between 99 and 101


def test_breakout_rises_when_price_leaves_the_range_upwards():
    vote = Breakout().vote(RANGE + [101.5])
    assert (vote.direction, vote.confidence) == (Direction.RISE, 0.75)
    assert vote.reason == "price 101.5 broke 0.5 (25% of its width) above the 20-tick range 99–101"


def test_breakout_falls_when_price_leaves_the_range_downwards():
    vote = Breakout().vote(RANGE + [98.5])
    assert (vote.direction, vote.confidence) == (Direction.FALL, 0.75)


def test_breakout_abstains_inside_the_margin_beyond_the_range():
    vote = Breakout().vote(RANGE + [101.1])
    assert vote.direction == Direction.NONE
    assert "10% margin" in vote.reason


def test_breakout_abstains_inside_the_range():
    assert Breakout().vote(RANGE + [100.0]).direction == Direction.NONE


def test_breakout_abstains_on_a_steady_rise_that_only_edges_past_each_high():
    assert Breakout().vote(RISING).direction == Direction.NONE


# Dual RSI


def test_dual_rsi_rises_when_both_rsis_are_oversold():
    vote = DualRSI().vote(series(-1, -1, 0.5, n=900))
    assert vote.direction == Direction.RISE
    assert vote.confidence == pytest.approx(0.8910, abs=1e-4)
    assert vote.reason == "RSI(9)=17.3 and RSI(14)=18.3 both below 30: oversold"


def test_dual_rsi_falls_when_both_rsis_are_overbought():
    vote = DualRSI().vote(series(1, 1, -0.5, n=900))
    assert vote.direction == Direction.FALL
    assert vote.reason == "RSI(9)=82.7 and RSI(14)=81.7 both above 70: overbought"


def test_dual_rsi_is_fully_confident_at_the_extremes_of_a_steady_move():
    assert DualRSI().vote(FALLING).confidence == DualRSI().vote(RISING).confidence == 1.0


def test_dual_rsi_abstains_when_only_the_fast_rsi_is_oversold():
    vote = DualRSI().vote(series(1, -1, n=896) + [98.5, 97.0, 95.5, 94.0])
    assert vote.direction == Direction.NONE
    assert vote.reason == "RSI(9)=26.1 and RSI(14)=32.5: only the first is oversold, so they disagree"


def test_dual_rsi_abstains_when_prices_stopped_moving_even_after_a_move():
    # Flat prices freeze Wilder's averages where the last move left them: stale, not a signal.
    vote = DualRSI().vote(RISING + [RISING[-1]] * 41)  # the last 42 prices are equal
    assert vote.direction == Direction.NONE
    assert vote.reason == "prices did not move over the last 42 ticks: RSI is undefined"
    assert DualRSI().vote(RISING + [RISING[-1]] * 40).direction == Direction.FALL


def test_dual_rsi_abstains_when_neither_rsi_is_extreme():
    vote = DualRSI().vote(OSCILLATING)
    assert vote.direction == Direction.NONE
    assert "both between 30 and 70" in vote.reason


# Parameters


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_builds_with_defaults_inside_its_bounds(name):
    strategy = build(name)
    for field, (low, high) in strategy.bounds.items():
        assert low <= getattr(strategy, field) <= high


def test_build_applies_parameters_over_the_defaults():
    assert build("breakout", {"period": 10}) == Breakout(period=10, margin=0.1)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("momentum", {"fast": 1}, "fast must be between 2 and 100, not 1"),
        ("dual_rsi", {"oversold": 60.0}, "oversold must be between 1 and 49"),
        ("breakout", {"margin": -0.1}, "margin must be between 0 and 1"),
        ("breakout", {"period": 20.5}, "period must be a whole number"),
        ("scalping", {"ticks": "5"}, "ticks must be a whole number"),
        ("momentum", {"fast": 21, "slow": 21}, "must be shorter than the slow one"),
        ("dual_rsi", {"fast": 14, "slow": 9}, "must be shorter than the slow one"),
        ("scalping", {"ticks": 3, "min_streak": 4}, "min_streak (4) cannot exceed ticks (3)"),
        ("momentum", {"min_strength": 1.0, "full_strength": 0.5}, "min_strength (1) must be below full_strength"),
        ("breakout", {"width": 3}, "unknown parameter(s) width"),
        ("martingale", {}, "unknown strategy 'martingale'"),
    ],
)
def test_build_refuses_bad_parameters_with_a_clear_message(name, params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build(name, params)
