"""The regime gatekeeper's classification of a market from its own recent prices."""

import random

import pytest

from apps.bots.engine.regime import REGIME_WINDOW, RegimeKind, classify

# Longer than the regime's window (740: the EMA's warm-up, then the 100 ticks the move is measured over).
LONG = 800


def walk(drift: float, noise: float, n: int = LONG, seed: int = 11) -> list[float]:
    rng = random.Random(seed)
    prices = [100.0]
    for _ in range(n - 1):
        prices.append(prices[-1] + drift + rng.gauss(0, noise))
    return prices


def test_a_steady_rise_is_bullish_with_full_confidence():
    regime = classify([100 + 0.1 * i for i in range(LONG)])
    assert (regime.kind, regime.confidence) == (RegimeKind.BULLISH, 1.0)
    assert regime.reason == "over 100 ticks the EMA(20) moved +10 in even steps, with no noise: bullish"


def test_a_steady_fall_is_bearish_with_full_confidence():
    regime = classify([100 - 0.1 * i for i in range(LONG)])
    assert (regime.kind, regime.confidence) == (RegimeKind.BEARISH, 1.0)


def test_flat_prices_are_sideways_with_full_confidence():
    regime = classify([100.0] * LONG)
    assert (regime.kind, regime.confidence) == (RegimeKind.SIDEWAYS, 1.0)
    assert regime.reason == "prices did not move over the last 100 ticks: sideways"


def test_noise_around_a_level_is_sideways():
    rng = random.Random(1)
    regime = classify([100 + rng.gauss(0, 1) for _ in range(LONG)])
    assert regime.kind == RegimeKind.SIDEWAYS
    assert regime.confidence > 0.9
    assert regime.reason.endswith("(2× needed): sideways")


def test_a_noisy_walk_with_a_strong_drift_is_bullish():
    regime = classify(walk(drift=0.05, noise=0.1))
    assert regime.kind == RegimeKind.BULLISH
    assert regime.confidence > 0.5


def test_a_noisy_walk_with_a_strong_negative_drift_is_bearish():
    assert classify(walk(drift=-0.05, noise=0.1)).kind == RegimeKind.BEARISH


def test_a_drift_too_small_for_its_noise_is_sideways():
    zigzag = [100.0]
    for i in range(LONG - 1):
        zigzag.append(zigzag[-1] + (1.0 if i % 2 else -0.98))
    regime = classify(zigzag)
    assert regime.kind == RegimeKind.SIDEWAYS
    assert regime.confidence > 0.9


def test_too_few_prices_are_sideways_with_no_confidence():
    regime = classify([100 + 0.1 * i for i in range(REGIME_WINDOW - 1)])
    assert (regime.kind, regime.confidence) == (RegimeKind.SIDEWAYS, 0.0)
    assert regime.reason == "only 739 prices so far; 740 needed to tell a trend"


def test_the_regime_reads_only_its_window():
    prices = walk(drift=0.01, noise=0.1, n=2 * LONG, seed=5)
    assert classify(prices) == classify(prices[-REGIME_WINDOW:])


def test_the_same_prices_always_give_the_same_regime():
    prices = walk(drift=0.01, noise=0.1, seed=4)
    assert classify(prices) == classify(list(prices))


@pytest.mark.parametrize(("period", "trend_at", "span"), [(1, 2.0, 100), (20, 0.0, 100), (20, 2.0, 1)])
def test_nonsense_settings_are_refused(period, trend_at, span):
    with pytest.raises(ValueError):
        classify([100.0] * LONG, period=period, trend_at=trend_at, span=span)
