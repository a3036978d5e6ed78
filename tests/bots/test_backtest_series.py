"""The backtest's fast path: indicators over whole blocks of prices, bit for bit talipp's, and the same decisions.

`run` decides a block of ticks at once (engine/series.py); `run_per_tick`
feeds the strategies' talipp streams one price at a time, and those streams
decide as the live worker's fresh windows do (test_backtest.py checks that at
every tick). Here: the indicators equal talipp's exactly on random series
split into random blocks, every tick's decision and regime equal the
streams', and both runs give the same report and the same trades.
"""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from talipp.indicators import EMA, RSI, StdDev

from apps.bots.engine.backtest import BacktestSpec, generated_ticks, run, run_per_tick
from apps.bots.engine.config import DecisionConfig
from apps.bots.engine.regime import REGIME_WINDOW, RegimeStream, classify
from apps.bots.engine.risk import RiskSettings
from apps.bots.engine.series import (
    DIRECTIONS,
    DecisionSeries,
    EmaRun,
    RegimeSeries,
    RsiRun,
    stdev,
    window_stdevs,
    window_sums,
)
from apps.markets.generator import GeneratorSettings

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)

prices = st.lists(
    st.one_of(
        st.floats(min_value=0.0001, max_value=1e6, allow_nan=False, allow_infinity=False),
        st.sampled_from([100.0, 100.01, 99.99, 0.1, 0.3]),  # repeats: flat stretches and equal prices
    ),
    min_size=1,
    max_size=120,
)


def blocks(values: list[float], cuts: list[int]) -> list[list[float]]:
    """`values` split at the given places (sorted, deduplicated), in order."""
    edges = [0, *sorted({c % (len(values) + 1) for c in cuts}), len(values)]
    return [values[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def same(a: float | None, b: float) -> bool:
    return (a is None and math.isnan(b)) or a == b


@settings(max_examples=150, deadline=None)
@given(values=prices, period=st.integers(1, 12), cuts=st.lists(st.integers(0, 200), max_size=5))
def test_the_ema_is_talipp_s_to_the_last_bit_across_blocks(values, period, cuts):
    talipp, ema = EMA(period), EmaRun(period)
    ours = np.concatenate([ema.feed(part) for part in blocks(values, cuts)])
    for value in values:
        talipp.add(value)

    assert len(ours) == len(values)
    assert all(same(t, o) for t, o in zip(talipp.output_values, ours.tolist(), strict=True))


@settings(max_examples=150, deadline=None)
@given(values=prices, period=st.integers(2, 12), cuts=st.lists(st.integers(0, 200), max_size=5))
def test_the_rsi_is_talipp_s_to_the_last_bit_across_blocks(values, period, cuts):
    talipp, rsi = RSI(period), RsiRun(period)
    ours = np.concatenate([rsi.feed(part) for part in blocks(values, cuts)])
    for value in values:
        talipp.add(value)

    assert len(ours) == len(values)
    assert all(same(t, o) for t, o in zip(talipp.output_values, ours.tolist(), strict=True))


@settings(max_examples=150, deadline=None)
@given(values=prices, period=st.integers(1, 30))
def test_window_sums_and_deviations_are_talipp_s(values, period):
    array = np.array(values)
    talipp = StdDev(period, input_values=values).output_values[period - 1 :]
    sums = window_sums(array, period)
    approximate = window_stdevs(array, period)

    assert sums.tolist() == [sum(values[k : k + period]) for k in range(len(values) - period + 1)]
    # Exact where squared as talipp squares; within 1e-14 where squared with `*`.
    assert [stdev(values[k : k + period]) for k in range(len(talipp))] == talipp
    assert np.allclose(approximate, talipp, rtol=1e-13, atol=0) or not talipp


def generated(count: int, seed: int, mode: str = "MEDIUM", decimals: int = 2, bias: float = 0.3):
    settings = GeneratorSettings(volatility_mode=mode, trend_bias=bias, decimals=decimals)
    return list(generated_ticks(seed, T0, count, 1000, settings, D("1000").quantize(D(1).scaleb(-decimals))))


SHORT = DecisionConfig(
    {
        "scalping": {"ticks": 3, "min_streak": 2, "lookback": 10},
        "momentum": {"fast": 3, "slow": 6},
        "breakout": {"period": 8},
        "dual_rsi": {"fast": 3, "slow": 5},
    },
    2,
    D("0.50"),
)
# Thresholds at their edges: a zero margin and strength, one vote enough, a low bar.
EDGES = DecisionConfig(
    {
        "scalping": {"ticks": 2, "min_streak": 1, "lookback": 5},
        "momentum": {"fast": 2, "slow": 3, "min_strength": 0.0},
        "breakout": {"period": 5, "margin": 0},
        "dual_rsi": {"fast": 2, "slow": 3},
    },
    1,
    D("0.10"),
)


@pytest.mark.parametrize(
    ("config", "count", "mode", "decimals", "block"),
    [
        (DecisionConfig(), 2500, "MEDIUM", 2, 1000),
        (SHORT, 2000, "LOW", 4, 333),
        (SHORT, 600, "LOW", 1, 1),  # one price per block; few decimals: many flat stretches
        (EDGES, 1500, "HIGH", 2, 64),
    ],
    ids=["defaults", "short-periods", "one-price-blocks", "edges"],
)
def test_at_every_tick_the_blocks_decide_as_the_streams_do(config, count, mode, decimals, block):
    values = [float(price) for _, price in generated(count, seed=21, mode=mode, decimals=decimals)]
    stream, regimes = config.stream(), RegimeStream()
    series, regime_series = DecisionSeries(config), RegimeSeries()
    traded = 0
    for start in range(0, count, block):
        part = np.array(values[start : start + block])
        directions = series.feed(part)
        regime_series.feed(part)
        kinds = regime_series.kinds(list(range(len(part))))
        for j, value in enumerate(part.tolist()):
            decision = stream.add(value)
            regimes.add(value)

            assert series.decision(j) == decision, f"tick {start + j}"  # every vote and reason
            assert DIRECTIONS[int(directions[j])] == decision.direction, f"tick {start + j}"
            assert regime_series.regime(j) == regimes.regime(), f"tick {start + j}"
            assert kinds[j] == regimes.regime().kind, f"tick {start + j}"
            traded += decision.direction != "NONE"
    assert traded > 10


def test_the_blocks_decide_as_the_live_worker_s_windows_do():
    ticks = generated(1200, seed=5, mode="LOW", decimals=3)
    values = [price for _, price in ticks]
    series, regime_series = DecisionSeries(SHORT), RegimeSeries()
    part = np.array([float(price) for price in values])
    directions = series.feed(part)
    regime_series.feed(part)
    kinds = regime_series.kinds(list(range(len(part))))
    for i in range(len(values)):
        window = values[max(0, i + 1 - max(SHORT.window, REGIME_WINDOW)) : i + 1]  # what the worker reads
        live = SHORT.evaluate(window)

        assert series.decision(i) == live, f"tick {i}"
        assert DIRECTIONS[int(directions[i])] == live.direction, f"tick {i}"
        assert kinds[i] == classify(window).kind, f"tick {i}"


@settings(max_examples=25, deadline=None)
@given(
    ticks=st.integers(2, 6),
    lookback=st.integers(7, 40),
    fast=st.integers(2, 8),
    slow_gap=st.integers(1, 8),
    min_strength=st.sampled_from([0.0, 0.05, 0.2, 0.6]),
    period=st.integers(5, 30),
    margin=st.sampled_from([0.0, 0.1, 0.5]),
    rsi=st.integers(2, 6),
    agreeing=st.integers(1, 3),
    confidence=st.sampled_from(["0.10", "0.50", "0.70", "0.90"]),
    seed=st.integers(0, 10_000),
    block=st.integers(1, 400),
)
def test_any_configuration_decides_as_the_streams_do(
    ticks, lookback, fast, slow_gap, min_strength, period, margin, rsi, agreeing, confidence, seed, block
):
    config = DecisionConfig(
        {
            "scalping": {"ticks": ticks, "min_streak": 2, "lookback": lookback},
            "momentum": {"fast": fast, "slow": fast + slow_gap, "min_strength": min_strength},
            "breakout": {"period": period, "margin": margin},
            "dual_rsi": {"fast": rsi, "slow": rsi + 1},
        },
        agreeing,
        D(confidence),
    )
    values = [float(price) for _, price in generated(900, seed=seed, mode="LOW", decimals=2)]
    stream, series = config.stream(), DecisionSeries(config)
    expected = [stream.add(value).direction for value in values]

    got = np.concatenate([series.feed(np.array(values[s : s + block])) for s in range(0, len(values), block)])

    assert [DIRECTIONS[int(code)] for code in got] == expected


# Whole runs: the same report and the same trades


def open_risk(**overrides) -> RiskSettings:
    return RiskSettings(
        **{
            "base_stake": D("1.00"),
            "max_stake": D("10.00"),
            "daily_loss_limit": D("100000.00"),
            "max_consecutive_losses": 1000,
            "max_trades_per_day": 100000,
            "max_drawdown_pct": D("100"),
            **overrides,
        }
    )


def spec(**overrides) -> BacktestSpec:
    values = {
        "decision": DecisionConfig(),
        "blocked_regimes": frozenset(),
        "risk": open_risk(),
        "duration": 5,
        "duration_unit": "t",
        "payout_percent": D("85"),
        "tie_rule": "REFUND",
        "starting_balance": D("1000.00"),
    }
    return BacktestSpec(**(values | overrides))


def both(settings: BacktestSpec, ticks, *, block: int = 65_536, total: int | None = None):
    """Each run's report, trades and progress calls."""
    results = []
    for runner, extra in ((run_per_tick, {}), (run, {"block": block})):
        trades, calls = [], []
        report = runner(
            settings,
            iter(ticks),
            on_trade=trades.append,
            progress=lambda *call, calls=calls: calls.append(call),
            total=total,
            **extra,
        )
        results.append((report, trades, calls))
    return results


@pytest.mark.parametrize(
    ("overrides", "count", "block"),
    [
        ({}, 6000, 65_536),
        ({"blocked_regimes": frozenset({"BULLISH"})}, 6000, 1000),
        ({"blocked_regimes": frozenset({"SIDEWAYS"}), "decision": SHORT}, 3000, 7),
        ({"decision": SHORT, "duration": 1, "duration_unit": "m", "tie_rule": "LOSE"}, 4000, 500),
        ({"decision": EDGES, "risk": open_risk(max_open_contracts=3), "duration": 3}, 3000, 1),
        ({"decision": SHORT, "risk": open_risk(max_consecutive_losses=4)}, 4000, 300),
        ({"decision": SHORT, "risk": open_risk(max_trades_per_day=5)}, 4000, 999),
        ({"decision": SHORT, "commission_percent": D("20"), "markup_percent": D("5")}, 3000, 256),
    ],
    ids=["defaults", "regime", "sideways-blocked", "minutes", "edges", "loss-stop", "daily-stop", "fees"],
)
def test_the_fast_run_gives_the_per_tick_run_s_report_and_trades(overrides, count, block):
    # Ticks 30 s apart over the daily-stop case, so the run crosses UTC days.
    step = 30 if "risk" in overrides and overrides["risk"].max_trades_per_day == 5 else 1
    ticks = [(T0 + timedelta(seconds=i * step), price) for i, (_, price) in enumerate(generated(count, seed=count))]

    (slow, slow_trades, slow_calls), (fast, fast_trades, fast_calls) = both(
        spec(**overrides), ticks, block=block, total=count
    )

    assert fast == slow
    assert fast_trades == slow_trades
    assert fast_calls == slow_calls
    assert slow.trades > 0


def test_progress_without_a_total_and_a_stop_match_too():
    ticks = generated(25_000, seed=3)[:25_000]

    (slow, _, slow_calls), (fast, _, fast_calls) = both(spec(decision=SHORT), ticks, block=4096)

    assert fast == slow
    assert fast_calls == slow_calls == [(10_000, None), (20_000, None), (25_000, 25_000)]


def test_a_block_must_hold_a_tick():
    with pytest.raises(ValueError, match="at least one tick"):
        run(spec(), [], block=0)


def test_the_backtest_cluster_runs_one_backtest_per_cpu_by_default():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "Q_BACKTEST_WORKERS"} | {"DEBUG": "on"}
    code = "import nexus.settings as s; print(s.Q_CLUSTER['ALT_CLUSTERS']['backtests']['workers'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    assert int(out.stdout.split()[-1]) == len(os.sched_getaffinity(0))
