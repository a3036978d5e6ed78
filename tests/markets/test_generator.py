"""The seeded random walk behind the OTC markets."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.markets.generator import STEP_SCALE, GeneratorSettings, PriceGenerator


def generator(seed=1, price="100.000000", mode="MEDIUM", bias=0.0, decimals=6):
    return PriceGenerator(
        seed=seed,
        price=Decimal(price),
        settings=GeneratorSettings(volatility_mode=mode, trend_bias=bias, decimals=decimals),
    )


def relative_moves(prices, start, mode):
    """Each step's move in units of the step size it was drawn with."""
    previous, moves = Decimal(start), []
    for price in prices:
        moves.append(float(price - previous) / (float(previous) * STEP_SCALE[mode]))
        previous = price
    return moves


def test_the_same_seed_and_settings_give_the_same_series():
    assert generator(seed=42).series(500) == generator(seed=42).series(500)


def test_a_different_seed_gives_a_different_series():
    assert generator(seed=42).series(50) != generator(seed=43).series(50)


def test_different_settings_with_the_same_seed_give_a_different_series():
    assert generator(mode="LOW").series(50) != generator(mode="HIGH").series(50)


def test_prices_carry_the_markets_decimals():
    for price in generator(price="1.08500", decimals=5).series(200):
        assert price == price.quantize(Decimal("0.00001"))


def test_spike_mode_sometimes_jumps_three_times_as_far():
    start = "100.000000"
    spike = relative_moves(generator(seed=7, price=start, mode="SPIKE").series(20_000), start, "SPIKE")
    plain = relative_moves(generator(seed=7, price=start, mode="HIGH").series(20_000), start, "HIGH")

    # Beyond 4.5 standard deviations a Gaussian step almost never goes (p < 1e-5);
    # a spike (3x a step beyond 1.5 sd, about 0.27% of steps) often does.
    assert sum(abs(m) > 4.5 for m in spike) >= 20
    assert sum(abs(m) > 4.5 for m in plain) <= 1
    assert max(abs(m) for m in spike) > 6


def test_spike_mode_moves_are_ordinary_most_of_the_time():
    start = "100.000000"
    moves = relative_moves(generator(seed=3, price=start, mode="SPIKE").series(5_000), start, "SPIKE")

    assert sum(abs(m) <= 3 for m in moves) / len(moves) > 0.97


@pytest.mark.parametrize("seed", range(5))
def test_a_trend_bias_of_plus_one_drifts_up_over_a_long_series(seed):
    series = generator(seed=seed, mode="LOW", bias=1.0).series(5_000)

    assert series[-1] > Decimal("100") * Decimal("1.05")
    assert sum(series[2500:]) > sum(series[:2500])


@pytest.mark.parametrize("seed", range(5))
def test_a_trend_bias_of_minus_one_drifts_down_over_a_long_series(seed):
    series = generator(seed=seed, mode="LOW", bias=-1.0).series(5_000)

    assert series[-1] < Decimal("100") * Decimal("0.95")


def test_a_series_drawn_in_parts_equals_one_drawn_at_once():
    g = generator(seed=9)

    parts = g.series(10) + g.series(10)

    assert parts == generator(seed=9).series(20)
    assert g.price == parts[-1]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    mode=st.sampled_from(list(STEP_SCALE)),
    decimals=st.integers(min_value=0, max_value=6),
    start=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("5"), places=6),
)
def test_prices_never_go_to_zero_or_below(seed, mode, decimals, start):
    g = generator(seed=seed, price=str(start), mode=mode, bias=-1.0, decimals=decimals)

    assert all(price > 0 for price in g.series(1_000))
