"""The backtest engine: simulated contracts under Deriv's rules, the risk manager, the report.

Crafted series use one fast strategy (scalping over 2 ticks, window of 6
prices) on unit steps, so every trade can be worked out by hand: the decision
at tick i is RISE when the changes into ticks i-1 and i are both +1, FALL when
both are -1, otherwise NONE.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.bots.engine.backtest import (
    EQUITY_POINTS,
    BacktestReport,
    BacktestSpec,
    downsample,
    generated_ticks,
    run,
)
from apps.bots.engine.config import DecisionConfig
from apps.bots.engine.regime import REGIME_WINDOW, RegimeStream, classify
from apps.bots.engine.risk import RiskSettings, StopReason
from apps.markets.generator import GeneratorSettings

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SCALP = DecisionConfig({"scalping": {"ticks": 2, "min_streak": 2, "lookback": 5}}, 1, D("0.50"))

# The changes into ticks 1..22 of the crafted series, starting at 100. With
# one open contract at most and 1-tick contracts (entry = tick i+1, exit =
# tick i+2), the trades are:
#   #1 RISE at tick 6: ticks 7→8 go +1, won (tick 7's RISE is skipped: one open)
#   #2 RISE at tick 8: 9→10 go -1, lost
#   #3 FALL at tick 10: 11→12 go 0, a tie (tick 11's FALL is skipped)
#   #4 RISE at tick 14: 15→16 go -1, lost
#   #5 FALL at tick 16: 17→18 go +1, lost
#   #6 RISE at tick 18: 19→20 go -1, lost (tick 19's RISE is skipped)
CHANGES = [1, -1, 1, -1, 1, 1, 1, 1, -1, -1, -1, 0, 1, 1, -1, -1, 1, 1, 1, -1, 1, -1]


def prices_from(changes: list[int], start: int = 100) -> list[Decimal]:
    prices = [D(start)]
    for change in changes:
        prices.append(prices[-1] + change)
    return prices


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def crafted(changes: list[int] = CHANGES, *, every_s: float = 1.0, start: datetime = T0):
    return [(start + timedelta(seconds=i * every_s), p) for i, p in enumerate(prices_from(changes))]


def risk(**overrides) -> RiskSettings:
    return RiskSettings(**{"base_stake": D("1.00"), "max_stake": D("10.00"), "max_open_contracts": 1, **overrides})


def spec(**overrides) -> BacktestSpec:
    values = {
        "decision": SCALP,
        "blocked_regimes": frozenset(),
        "risk": risk(),
        "duration": 1,
        "duration_unit": "t",
        "payout_percent": D("80"),
        "tie_rule": "REFUND",
        "starting_balance": D("1000.00"),
    }
    return BacktestSpec(**(values | overrides))


def generated(count: int, seed: int = 7, mode: str = "MEDIUM", decimals: int = 2, bias: float = 0.0):
    settings = GeneratorSettings(volatility_mode=mode, trend_bias=bias, decimals=decimals)
    return list(generated_ticks(seed, T0, count, 1000, settings, D("1000").quantize(D(1).scaleb(-decimals))))


def open_risk(**overrides) -> RiskSettings:
    """Limits wide enough that a long generated run never stops."""
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


# The crafted series, every figure by hand


def test_the_crafted_series_trades_as_worked_out_by_hand():
    report = run(spec(), crafted())

    assert (report.ticks, report.trades) == (23, 6)
    assert (report.wins, report.losses, report.ties, report.void) == (1, 4, 1, 0)
    assert report.decisions == {"RISE": 6, "FALL": 3, "NONE": 14}
    assert report.skips == {"max_open_contracts": 3}
    # One win pays 1.00 × 1.80 (0.80 profit); four losses cost 1.00 each; the tie refunds.
    assert (report.net_pnl, report.gross_profit, report.gross_loss) == (D("-3.20"), D("0.80"), D("4.00"))
    assert report.final_balance == D("996.80")
    assert report.win_rate == D("0.2000")  # 1 of 5, the tie left out
    assert report.profit_factor == D("0.2000")  # 0.80 / 4.00
    assert report.expectancy == D("-0.5333")  # -3.20 over 6 settled contracts
    # The peak 1000.80 after the win, the low 996.80 at the end: 4.00, 0.3997% of the peak.
    assert (report.max_drawdown, report.max_drawdown_pct) == (D("4.00"), D("0.40"))
    # The tie neither breaks nor extends the streak (as the risk manager counts it): loss, tie, loss, loss, loss.
    assert report.longest_losing_streak == 4
    assert report.breakeven_win_rate == D("0.5556")  # 1 / 1.80
    assert (report.stop_reason, report.stopped_at, report.daily_stops) == (None, None, {})
    assert report.equity_curve == (
        (at(0), D("1000.00")),
        (at(8), D("1000.80")),
        (at(10), D("999.80")),
        (at(16), D("998.80")),
        (at(18), D("997.80")),
        (at(20), D("996.80")),
        (at(22), D("996.80")),
    )
    assert (report.first_tick, report.last_tick) == (at(0), at(22))


def test_an_equal_exit_loses_under_the_lose_rule():
    report = run(spec(tie_rule="LOSE"), crafted())

    assert (report.wins, report.losses, report.ties) == (1, 5, 0)
    assert (report.net_pnl, report.final_balance, report.gross_loss) == (D("-4.20"), D("995.80"), D("5.00"))
    assert (report.win_rate, report.profit_factor, report.expectancy) == (D("0.1667"), D("0.1600"), D("-0.7000"))
    assert report.longest_losing_streak == 5
    assert (report.max_drawdown, report.max_drawdown_pct) == (D("5.00"), D("0.50"))
    assert (at(12), D("998.80")) in report.equity_curve


def test_the_payout_rounds_down_to_the_cent():
    # 1.00 × 1.857 pays 1.85: the first trade's win is +0.85, not +0.86. (The
    # second, bought on the last tick, is void.)
    report = run(spec(payout_percent=D("85.7")), crafted(CHANGES[:8]))

    assert (report.trades, report.wins, report.void, report.net_pnl) == (2, 1, 1, D("0.85"))
    assert report.breakeven_win_rate == D("0.5385")  # 1 / 1.857


def test_wins_pay_commission_and_markup_as_live_contracts_do_and_the_report_is_net():
    # The one win pays 1.80: 0.80 profit, less 20% commission (0.16) and 10% markup (0.08) = 0.56.
    report = run(spec(commission_percent=D("20"), markup_percent=D("10")), crafted())

    assert (report.wins, report.losses, report.ties) == (1, 4, 1)
    assert (report.gross_profit, report.fees) == (D("0.56"), D("0.24"))
    assert (report.net_pnl, report.final_balance) == (D("-3.44"), D("996.56"))
    assert report.breakeven_win_rate == D("0.6410")  # 1 / (1 + 0.80 × 0.70)
    assert run(spec(), crafted()).fees == D("0.00")


def test_no_losses_means_no_profit_factor():
    report = run(spec(), crafted(CHANGES[:8]))

    assert (report.wins, report.losses, report.profit_factor, report.longest_losing_streak) == (1, 0, None, 0)


def test_no_trades_gives_empty_ratios_and_a_flat_curve():
    report = run(spec(), crafted([1, -1] * 10))

    assert (report.trades, report.win_rate, report.profit_factor, report.expectancy) == (0, None, None, None)
    assert report.equity_curve == ((at(0), D("1000.00")), (at(20), D("1000.00")))
    assert report.decisions == {"RISE": 0, "FALL": 0, "NONE": 21}


def test_no_ticks_gives_an_empty_report():
    report = run(spec(), [])

    assert (report.ticks, report.trades, report.first_tick, report.equity_curve) == (0, 0, None, ())
    assert report.final_balance == D("1000.00")


def test_longer_tick_durations_count_ticks_after_the_entry():
    # 3 ticks: bought at tick 6, entry tick 7 (103), exit tick 10 (102): a RISE
    # that lost. Tick 10's FALL is bought on the last tick: void.
    report = run(spec(duration=3), crafted(CHANGES[:10]))

    assert (report.trades, report.wins, report.losses, report.void) == (2, 0, 1, 1)
    assert report.skips == {"max_open_contracts": 2}  # ticks 7 and 8


def test_a_contract_still_open_when_the_prices_run_out_is_void():
    # Bought at tick 6; the series ends at its entry tick (whose RISE is skipped).
    report = run(spec(), crafted(CHANGES[:7]))

    assert (report.trades, report.void, report.wins, report.losses) == (1, 1, 0, 0)
    assert (report.final_balance, report.net_pnl, report.expectancy) == (D("1000.00"), D("0.00"), None)


# Minute durations: the exit is the last tick at or before expiry


MINUTE_CHANGES = [1, -1, 1, -1, 1, 1, -1, 1, 1, -3, -1]


def test_a_minute_contract_exits_on_the_last_tick_at_or_before_expiry_and_settles_after_it():
    # Ticks every 20 s. #1 RISE at tick 6 (120 s) expires at 180 s: entry tick 7 (101),
    # exit tick 9 (103) exactly at expiry, settled by tick 10 (200 s); tick 10's 100
    # would have lost. Tick 9's RISE is skipped while #1 is open.
    report = run(spec(duration=1, duration_unit="m"), crafted(MINUTE_CHANGES[:10], every_s=20))

    assert (report.trades, report.wins, report.losses, report.void) == (1, 1, 0, 0)
    assert report.skips == {"max_open_contracts": 1}
    assert report.equity_curve[1] == (at(200), D("1000.80"))


def test_a_minute_contract_with_no_tick_before_expiry_is_void():
    # #2 FALL at tick 11 (220 s) expires at 280 s; the next tick comes at 340 s: entry
    # tick, but no exit at or before expiry, so the stake is refunded.
    ticks = crafted(MINUTE_CHANGES, every_s=20)
    ticks.append((at(340), ticks[-1][1] + 5))

    report = run(spec(duration=1, duration_unit="m"), ticks)

    assert (report.trades, report.wins, report.void) == (2, 1, 1)
    assert (report.net_pnl, report.final_balance) == (D("0.80"), D("1000.80"))


def test_a_minute_contract_expiring_on_the_last_tick_settles_on_it():
    # #1's expiry (180 s) is the last tick's time: no later tick, yet the exit is known.
    report = run(spec(duration=1, duration_unit="m"), crafted(MINUTE_CHANGES[:9], every_s=20))

    assert (report.trades, report.wins, report.void) == (1, 1, 0)


def test_a_minute_contract_expiring_after_the_last_tick_is_void():
    report = run(spec(duration=5, duration_unit="m"), crafted(MINUTE_CHANGES[:10], every_s=20))

    assert (report.trades, report.void, report.wins) == (1, 1, 0)


# The risk manager and the regime


def test_a_risk_stop_ends_the_run_with_its_reason():
    # Losses #2 and #4 (the tie between them changes nothing) make 2 in a row;
    # tick 16's FALL finds the limit reached.
    report = run(spec(risk=risk(max_consecutive_losses=2)), crafted())

    assert (report.stop_reason, report.stopped_at) == (StopReason.CONSECUTIVE_LOSSES, at(16))
    assert (report.trades, report.ticks) == (4, 17)
    assert report.final_balance == D("998.80")


def test_a_stop_waits_for_the_open_contracts_to_settle():
    # 2-tick contracts, three open at most, one loss stops: RISE at ticks 6, 7 and 8
    # exit at ticks 9 (a tie), 10 and 11 (losses). Tick 10's FALL finds one loss and
    # stops; the contract bought at tick 8 still settles on tick 11, then the run ends.
    settings = spec(duration=2, risk=risk(max_consecutive_losses=1, max_open_contracts=3))

    report = run(settings, crafted())

    assert (report.stop_reason, report.stopped_at) == (StopReason.CONSECUTIVE_LOSSES, at(10))
    assert (report.trades, report.ties, report.losses, report.ticks) == (3, 1, 2, 12)
    assert report.final_balance == D("998.00")


def test_a_daily_stop_pauses_until_the_next_utc_day():
    # Two trades a day. Day one: #1 (tick 6; tick 7 waits for it) and #2 (tick 8);
    # tick 10's FALL stops for the day and tick 11's is skipped. Tick 12 is
    # midnight: #4 (14) and #5 (16), then tick 18 stops again and tick 19 is skipped.
    ticks = crafted(start=datetime(2025, 1, 1, 23, 59, 48, tzinfo=UTC))

    report = run(spec(risk=risk(max_trades_per_day=2)), ticks)

    assert report.trades == 4
    assert report.daily_stops == {StopReason.MAX_TRADES_PER_DAY: 2}
    assert report.skips == {"max_open_contracts": 1, "max_trades_per_day": 4}
    assert report.stop_reason is None


def test_a_blocked_regime_skips_every_trade_decision_and_counts_them():
    # 23 prices are far too few to tell a trend: the regime is SIDEWAYS.
    report = run(spec(blocked_regimes=frozenset({"SIDEWAYS"})), crafted())

    assert (report.trades, report.skips) == (0, {"regime": 9})
    assert report.final_balance == D("1000.00")


def test_regimes_not_blocked_let_the_trades_through():
    report = run(spec(blocked_regimes=frozenset({"BULLISH", "BEARISH"})), crafted())

    assert (report.trades, report.skips) == (6, {"max_open_contracts": 3})


def test_blocked_regimes_on_a_generated_series_skip_exactly_where_the_regime_says():
    ticks = generated(2500, seed=11, bias=0.6)
    config = DecisionConfig({"scalping": {}, "breakout": {}}, 1, D("0.50"))
    prices = [price for _, price in ticks]

    report = run(spec(decision=config, risk=open_risk(), blocked_regimes=frozenset({"BULLISH"})), ticks)

    # Recompute the regime, as the live worker would, at every trade decision.
    stream, expected = config.stream(), 0
    for i, price in enumerate(prices):
        if stream.add(float(price)).direction != "NONE" and classify(prices[: i + 1]).kind == "BULLISH":
            expected += 1
    assert expected > 0
    assert report.skips["regime"] == expected
    assert report.trades + sum(report.skips.values()) == report.decisions["RISE"] + report.decisions["FALL"]


# Determinism, serialization, progress


def test_the_same_seed_gives_the_same_report():
    settings = spec(decision=DecisionConfig(), risk=open_risk(), duration=5)

    first = run(settings, generated(3000, seed=3))
    again = run(settings, generated(3000, seed=3))
    other = run(settings, generated(3000, seed=4))

    assert first == again
    assert first.to_dict() == again.to_dict()
    assert first.trades > 0
    assert other != first


def test_the_generated_series_is_the_generator_s_from_the_start_time():
    ticks = generated(5, seed=9)

    assert [moment for moment, _ in ticks] == [T0 + timedelta(seconds=i) for i in range(5)]
    assert ticks == generated(5, seed=9)
    assert all(isinstance(price, Decimal) and price == price.quantize(D("0.01")) for _, price in ticks)


def test_the_report_survives_a_json_round_trip():
    report = run(spec(risk=risk(max_consecutive_losses=2)), crafted())

    data = json.loads(json.dumps(report.to_dict()))

    assert data["net_pnl"] == "-1.20"
    assert data["stop_reason"] == "CONSECUTIVE_LOSSES"
    assert data["equity_curve"][0] == ["2025-01-01T00:00:00+00:00", "1000.00"]
    assert BacktestReport.from_dict(data) == report


def test_the_progress_callback_reaches_the_total():
    ticks = generated(1000)
    calls = []

    run(spec(), ticks, progress=lambda done, total: calls.append((done, total)), total=len(ticks))

    assert len(calls) == 101  # every 1%, then once at the end
    assert calls[0] == (10, 1000)
    assert calls[-1] == (1000, 1000)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_the_progress_callback_ends_at_the_ticks_read_without_a_total():
    calls = []

    run(spec(), iter(generated(25_000)), progress=lambda done, total: calls.append((done, total)))

    assert calls == [(10_000, None), (20_000, None), (25_000, 25_000)]


def test_a_run_that_stops_early_still_reports_itself_finished():
    calls = []

    run(spec(risk=risk(max_consecutive_losses=2)), crafted(), progress=lambda *call: calls.append(call), total=23)

    assert calls[-1] == (23, 23)


def test_the_equity_curve_keeps_at_most_500_points_with_the_first_and_the_last():
    ticks = generated(20_000, seed=5)

    report = run(spec(risk=open_risk(max_open_contracts=5)), ticks)

    assert report.trades > EQUITY_POINTS
    assert len(report.equity_curve) == EQUITY_POINTS
    assert report.equity_curve[0] == (T0, D("1000.00"))
    assert report.equity_curve[-1] == (ticks[-1][0], report.final_balance)


def test_downsampling_spreads_the_points_evenly():
    points = [(at(i), D(i)) for i in range(10)]

    assert downsample(points, 4) == (points[0], points[3], points[6], points[9])
    assert downsample(points[:3], 4) == tuple(points[:3])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration_unit": "s"}, "duration unit"),
        ({"duration": 0}, "at least 1"),
        ({"tie_rule": "SPLIT"}, "tie rule"),
        ({"payout_percent": D("0")}, "payout"),
        ({"starting_balance": D("-1")}, "starting balance"),
        ({"blocked_regimes": frozenset({"CRASHING"})}, "unknown regime"),
    ],
)
def test_nonsense_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_naive_tick_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        run(spec(), [(datetime(2025, 1, 1), D("100"))])


# One code path: the backtest's streams decide exactly as the live worker's windows


@pytest.mark.parametrize(
    ("config", "count", "mode", "decimals"),
    [
        # The defaults, as bots use them: every strategy and the regime past their warm-up.
        (DecisionConfig(), 1400, "MEDIUM", 2),
        # Short periods, so many more ticks are compared past the warm-up, on a
        # quieter market where prices often repeat.
        (
            DecisionConfig(
                {
                    "scalping": {"ticks": 3, "min_streak": 2, "lookback": 10},
                    "momentum": {"fast": 3, "slow": 6},
                    "breakout": {"period": 8},
                    "dual_rsi": {"fast": 3, "slow": 5},
                },
                2,
                D("0.50"),
            ),
            2000,
            "LOW",
            4,
        ),
    ],
    ids=["defaults", "short-periods"],
)
def test_at_every_tick_the_stream_decides_as_a_fresh_window_does(config, count, mode, decimals):
    prices = [price for _, price in generated(count, seed=21, mode=mode, decimals=decimals, bias=0.3)]
    stream, regimes = config.stream(), RegimeStream()
    traded = 0
    for i, price in enumerate(prices):
        decision = stream.add(float(price))
        regimes.add(float(price))
        window = prices[max(0, i + 1 - max(config.window, REGIME_WINDOW)) : i + 1]  # what the worker reads

        live = config.evaluate(window)

        assert decision == live, f"tick {i}"  # direction, confidence, every vote and reason
        assert round(decision.confidence, 4) == round(live.confidence, 4)
        assert regimes.regime() == classify(window), f"tick {i}"
        traded += decision.direction != "NONE"
    assert traded > 10
