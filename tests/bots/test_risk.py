from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.bots.engine.risk import (
    CENT,
    MIN_STAKE,
    KillSwitches,
    Recovery,
    RiskSettings,
    RiskState,
    StopReason,
    after_buy,
    after_error,
    after_result,
    fibonacci,
    restart,
    roll_day,
    size,
    start,
    stop,
    to_cents,
)

D = Decimal
DAY = date(2025, 3, 10)
OFF = KillSwitches()


def risk(**overrides) -> RiskSettings:
    return RiskSettings(**{"base_stake": D("1.00"), "max_stake": D("50.00"), **overrides})


def state(**overrides) -> RiskState:
    return replace(start(day=DAY, equity=D("1000.00")), **overrides)


# Settings validation


def test_the_defaults_are_valid():
    risk().validate()


def test_limits_at_their_bounds_are_valid():
    risk(fibonacci_max_steps=1, max_drawdown_pct=D("100"), base_stake=MIN_STAKE, daily_loss_limit=MIN_STAKE).validate()
    risk(fibonacci_max_steps=10, max_drawdown_pct=D("0.01"), recovery="FIBONACCI").validate()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"base_stake": D("0.34")}, "base_stake", "The base stake must be at least 0.35"),
        ({"base_stake": D("0.40"), "market_min_stake": D("0.50")}, "base_stake", "at least 0.50"),
        ({"base_stake": D("60.00")}, "base_stake", "cannot be more than the maximum stake (50.00)"),
        ({"base_stake": D("20.00"), "market_max_stake": D("10.00")}, "base_stake", "above this market's maximum"),
        ({"base_stake": D("1.005")}, "base_stake", "at most two decimal places"),
        ({"max_stake": D("0.30"), "base_stake": D("0.35")}, "base_stake", "cannot be more than the maximum"),
        ({"market_min_stake": D("0.10"), "base_stake": D("0.35")}, "market_min_stake", "cannot be below 0.35"),
        ({"market_max_stake": D("0.50"), "market_min_stake": D("0.60")}, "market_max_stake", "below its minimum"),
        ({"recovery": "MARTINGALE"}, "recovery", "martingale is not offered"),
        ({"fibonacci_max_steps": 0}, "fibonacci_max_steps", "1 to 10 steps"),
        ({"fibonacci_max_steps": 11}, "fibonacci_max_steps", "1 to 10 steps"),
        ({"daily_loss_limit": D("0")}, "daily_loss_limit", "must be more than 0"),
        ({"daily_loss_limit": D("-10")}, "daily_loss_limit", "must be more than 0"),
        ({"daily_loss_limit": D("0.50")}, "daily_loss_limit", "at least one base stake (1.00)"),
        ({"max_consecutive_losses": 0}, "max_consecutive_losses", "at least 1"),
        ({"max_trades_per_day": -1}, "max_trades_per_day", "at least 1"),
        ({"max_open_contracts": 0}, "max_open_contracts", "at least 1"),
        ({"max_consecutive_errors": 0}, "max_consecutive_errors", "at least 1"),
        ({"max_drawdown_pct": D("0")}, "max_drawdown_pct", "more than 0% and at most 100%"),
        ({"max_drawdown_pct": D("-5")}, "max_drawdown_pct", "more than 0% and at most 100%"),
        ({"max_drawdown_pct": D("100.5")}, "max_drawdown_pct", "more than 0% and at most 100%"),
    ],
)
def test_each_out_of_range_value_is_named_with_a_readable_message(overrides, field, message):
    bad = risk(**overrides)

    assert message in bad.errors()[field]
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bad.validate()


# Sizing


def test_a_fresh_bot_stakes_the_base():
    sizing = size(risk(), state(), kill_switches=OFF)

    assert sizing == type(sizing)(D("1.00"), "Base stake 1.00.", None)


def test_fibonacci_multipliers_from_the_base():
    assert [fibonacci(step) for step in range(8)] == [1, 1, 2, 3, 5, 8, 13, 21]


@pytest.mark.parametrize(("step", "stake"), [(0, "1.00"), (1, "1.00"), (2, "2.00"), (3, "3.00"), (4, "5.00")])
def test_recovery_follows_fibonacci_steps(step, stake):
    sizing = size(risk(recovery="FIBONACCI"), state(recovery_step=step, consecutive_losses=step), kill_switches=OFF)

    assert sizing.stake == D(stake)


def test_the_reason_explains_the_recovery_step_with_numbers():
    sizing = size(risk(recovery="FIBONACCI"), state(recovery_step=2, consecutive_losses=2), kill_switches=OFF)

    assert sizing.reason == "Recovery step 2 of 5 after 2 losses: 2 × 1.00 = 2.00."


def test_without_recovery_the_stake_stays_at_the_base_after_losses():
    sizing = size(risk(recovery="NONE"), state(recovery_step=3, consecutive_losses=3), kill_switches=OFF)

    assert sizing.stake == D("1.00")


def test_a_step_beyond_a_lowered_step_cap_uses_the_cap():
    sizing = size(risk(recovery="FIBONACCI", fibonacci_max_steps=3), state(recovery_step=5), kill_switches=OFF)

    assert sizing.stake == D("3.00")


def test_the_stake_is_capped_at_the_bots_maximum():
    sizing = size(risk(recovery="FIBONACCI", max_stake=D("4.00")), state(recovery_step=5), kill_switches=OFF)

    assert sizing.stake == D("4.00")
    assert "capped at the bot's maximum 4.00" in sizing.reason


def test_the_stake_is_capped_at_the_markets_maximum():
    settings_ = risk(recovery="FIBONACCI", market_max_stake=D("2.50"))

    sizing = size(settings_, state(recovery_step=5), kill_switches=OFF)

    assert sizing.stake == D("2.50")
    assert "capped at the market's maximum 2.50" in sizing.reason


def test_a_base_below_a_raised_market_minimum_is_lifted_to_it():
    sizing = size(risk(base_stake=D("0.35"), market_min_stake=D("0.50")), state(), kill_switches=OFF)

    assert sizing.stake == D("0.50")
    assert "raised to the minimum stake 0.50" in sizing.reason


def test_a_market_minimum_above_the_bots_maximum_stops_the_bot():
    settings_ = risk(base_stake=D("1.00"), max_stake=D("1.00"), market_min_stake=D("2.00"))

    sizing = size(settings_, state(), kill_switches=OFF)

    assert (sizing.stake, sizing.stop) == (None, StopReason.STAKE_LIMITS)
    assert "(2.00) is above the largest (1.00)" in sizing.reason


def test_the_stake_is_cut_to_what_is_left_of_todays_loss_limit():
    settings_ = risk(recovery="FIBONACCI", daily_loss_limit=D("10.00"))

    sizing = size(settings_, state(recovery_step=4, today_pnl=D("-7.50")), kill_switches=OFF)

    assert sizing.stake == D("2.50")
    assert "cut to 2.50, what is left of today's loss limit" in sizing.reason


def test_todays_profit_does_not_raise_the_loss_allowance():
    settings_ = risk(recovery="FIBONACCI", daily_loss_limit=D("3.00"))

    sizing = size(settings_, state(recovery_step=4, today_pnl=D("40.00")), kill_switches=OFF)

    assert sizing.stake == D("3.00")


def test_the_loss_limit_stops_the_bot_when_the_smallest_stake_no_longer_fits():
    sizing = size(risk(), state(today_pnl=D("-99.70")), kill_switches=OFF)

    assert (sizing.stake, sizing.stop) == (None, StopReason.DAILY_LOSS_LIMIT)
    assert sizing.reason == (
        "Today's loss of 99.70 leaves 0.30 of the 100.00 daily loss limit, less than the 0.35 minimum stake."
    )


def test_open_stakes_count_against_the_allowance_but_only_skip():
    settings_ = risk(daily_loss_limit=D("10.00"))

    cut = size(settings_, state(today_pnl=D("-8.00"), open_stake=D("1.50"), open_contracts=1), kill_switches=OFF)
    skipped = size(settings_, state(today_pnl=D("-8.00"), open_stake=D("1.80"), open_contracts=2), kill_switches=OFF)

    assert cut.stake == D("0.50")
    assert (skipped.stake, skipped.stop) == (None, None)
    assert "waiting for them to settle" in skipped.reason


def test_the_stake_is_cut_to_the_drawdown_left_rounded_down_to_the_cent():
    # 10% of 33.33 is 3.333: the limit rounds down to 3.33, so 0.83 is left after a 2.50 loss.
    settings_ = risk(recovery="FIBONACCI", max_drawdown_pct=D("10"))
    at_risk = state(starting_equity=D("33.33"), equity=D("30.83"), recovery_step=3)

    sizing = size(settings_, at_risk, kill_switches=OFF)

    assert sizing.stake == D("0.83")
    assert "what is left of the drawdown limit" in sizing.reason


def test_the_maximum_drawdown_stops_the_bot():
    sizing = size(risk(), state(starting_equity=D("100.00"), equity=D("80.00")), kill_switches=OFF)

    assert (sizing.stake, sizing.stop) == (None, StopReason.MAX_DRAWDOWN)
    assert "Equity 80.00 is 20.00 below the starting 100.00; the 20% drawdown limit (20.00)" in sizing.reason


def test_max_consecutive_losses_stops_the_bot():
    sizing = size(risk(), state(consecutive_losses=5), kill_switches=OFF)

    assert (sizing.stake, sizing.stop, sizing.reason) == (
        None,
        StopReason.CONSECUTIVE_LOSSES,
        "5 losses in a row (limit 5).",
    )


def test_max_trades_per_day_stops_the_bot():
    sizing = size(risk(max_trades_per_day=3), state(trades_today=3), kill_switches=OFF)

    assert (sizing.stake, sizing.stop, sizing.reason) == (
        None,
        StopReason.MAX_TRADES_PER_DAY,
        "3 trades today (limit 3).",
    )


def test_consecutive_errors_stop_the_bot():
    sizing = size(risk(), state(consecutive_errors=5), kill_switches=OFF)

    assert (sizing.stake, sizing.stop, sizing.reason) == (
        None,
        StopReason.CONSECUTIVE_ERRORS,
        "5 errors in a row (limit 5).",
    )


def test_max_open_contracts_only_skips():
    sizing = size(risk(max_open_contracts=2), state(open_contracts=2, open_stake=D("2.00")), kill_switches=OFF)

    assert (sizing.stake, sizing.stop) == (None, None)
    assert sizing.reason == "2 contracts open, the most this bot may hold (2)."


@pytest.mark.parametrize(
    ("switches", "reason"),
    [
        (KillSwitches(user=True), StopReason.USER_KILL_SWITCH),
        (KillSwitches(platform=True), StopReason.GLOBAL_KILL_SWITCH),
        (KillSwitches(user=True, platform=True), StopReason.GLOBAL_KILL_SWITCH),
    ],
)
def test_a_kill_switch_stops_the_bot(switches, reason):
    sizing = size(risk(), state(), kill_switches=switches)

    assert (sizing.stake, sizing.stop) == (None, reason)


def test_a_kill_switch_overrides_an_earlier_stop():
    sizing = size(risk(), state(stopped_reason=StopReason.DAILY_LOSS_LIMIT), kill_switches=KillSwitches(user=True))

    assert sizing.stop == StopReason.USER_KILL_SWITCH


def test_a_stopped_bot_refuses_and_says_why():
    sizing = size(risk(), stop(state(), StopReason.CONSECUTIVE_LOSSES), kill_switches=OFF)

    assert (sizing.stake, sizing.stop) == (None, StopReason.CONSECUTIVE_LOSSES)
    assert sizing.reason == "The bot is stopped: too many losses in a row."


# State transitions


def test_a_buy_counts_a_trade_and_holds_the_stake_open():
    bought = after_buy(state(consecutive_errors=3), stake=D("2.00"))

    assert (bought.trades_today, bought.open_contracts, bought.open_stake) == (1, 1, D("2.00"))
    assert bought.consecutive_errors == 0


def test_an_error_extends_the_error_streak():
    assert after_error(after_error(state())).consecutive_errors == 2


def test_a_loss_moves_one_recovery_step_up_to_the_cap():
    settings_ = risk(recovery="FIBONACCI", fibonacci_max_steps=2)
    s = state(open_contracts=3, open_stake=D("3.00"))

    for expected_step in (1, 2, 2):
        s = after_result(settings_, s, stake=D("1.00"), profit=D("-1.00"))
        assert s.recovery_step == expected_step

    assert (s.consecutive_losses, s.open_contracts, s.open_stake) == (3, 0, D("0.00"))
    assert (s.equity, s.today_pnl) == (D("997.00"), D("-3.00"))


def test_a_loss_without_recovery_keeps_the_base_step():
    s = after_result(risk(recovery="NONE"), state(open_contracts=1), stake=D("1.00"), profit=D("-1.00"))

    assert (s.recovery_step, s.consecutive_losses) == (0, 1)


def test_a_win_resets_the_streak_and_the_recovery():
    losing = state(recovery_step=3, consecutive_losses=3, open_contracts=1, open_stake=D("3.00"))

    s = after_result(risk(recovery="FIBONACCI"), losing, stake=D("3.00"), profit=D("2.40"))

    assert (s.recovery_step, s.consecutive_losses, s.open_contracts) == (0, 0, 0)
    assert (s.equity, s.today_pnl) == (D("1002.40"), D("2.40"))


def test_a_tie_leaves_the_streaks_alone():
    losing = state(recovery_step=2, consecutive_losses=2, open_contracts=1, open_stake=D("2.00"))

    s = after_result(risk(recovery="FIBONACCI"), losing, stake=D("2.00"), profit=D("0"))

    assert (s.recovery_step, s.consecutive_losses, s.open_contracts, s.open_stake) == (2, 2, 0, D("0.00"))


def test_a_new_day_resets_the_daily_counters_and_lifts_daily_stops_only():
    tired = state(today_pnl=D("-100.00"), trades_today=50, consecutive_losses=2, open_contracts=1)

    rolled = roll_day(stop(tired, StopReason.DAILY_LOSS_LIMIT), DAY + timedelta(days=1))
    still_stopped = roll_day(stop(tired, StopReason.CONSECUTIVE_LOSSES), DAY + timedelta(days=1))

    assert (rolled.day, rolled.today_pnl, rolled.trades_today, rolled.stopped_reason) == (
        DAY + timedelta(days=1),
        D("0.00"),
        0,
        None,
    )
    assert (rolled.consecutive_losses, rolled.open_contracts) == (2, 1)
    assert still_stopped.stopped_reason == StopReason.CONSECUTIVE_LOSSES


def test_rolling_to_the_same_or_an_earlier_day_changes_nothing():
    s = state(trades_today=7)

    assert roll_day(s, DAY) is s
    assert roll_day(s, DAY - timedelta(days=1)) is s


def test_a_restart_clears_streaks_but_not_the_daily_limits():
    s = stop(state(consecutive_losses=5, recovery_step=5, consecutive_errors=1, today_pnl=D("-99.80")), "x")

    again = restart(s)

    assert (again.consecutive_losses, again.recovery_step, again.consecutive_errors, again.stopped_reason) == (
        0,
        0,
        0,
        None,
    )
    assert size(risk(), again, kill_switches=OFF).stop == StopReason.DAILY_LOSS_LIMIT


# Properties over random runs


def money(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: D(n).scaleb(-2))


@st.composite
def valid_settings(draw) -> RiskSettings:
    market_min = draw(money(35, 150))
    base = market_min + draw(money(0, 500))
    result = RiskSettings(
        base_stake=base,
        max_stake=base + draw(st.one_of(money(0, 300), money(0, 3000))),
        market_min_stake=market_min,
        market_max_stake=base + draw(st.one_of(money(0, 300), money(0, 3000))),
        recovery=draw(st.sampled_from(Recovery)),
        fibonacci_max_steps=draw(st.integers(1, 10)),
        daily_loss_limit=base + draw(money(0, 5000)),
        max_consecutive_losses=draw(st.integers(1, 8)),
        max_trades_per_day=draw(st.integers(1, 40)),
        max_open_contracts=draw(st.integers(1, 4)),
        max_drawdown_pct=draw(st.one_of(st.integers(5, 100).map(D), money(1, 10000))),
        max_consecutive_errors=draw(st.integers(1, 6)),
    )
    result.validate()
    return result


def sometimes(value, *, one_in: int) -> st.SearchStrategy:
    return st.integers(1, one_in).map(lambda n: value if n == 1 else not value)


# Mostly decisions and settlements, so runs reach the limits; the rest now and then.
Step = tuple[str, bool, int, str, bool, bool]
step: st.SearchStrategy[Step] = st.tuples(
    st.sampled_from(["decide"] * 8 + ["settle"] * 7 + ["error", "roll", "roll", "kill", "restart"]),
    sometimes(False, one_in=10),  # whether the buy goes through (the others count as errors)
    st.integers(0, 9),  # which open contract settles
    st.sampled_from(["win", "loss", "loss", "tie"]),
    sometimes(True, one_in=4),  # the user's kill switch, when the step toggles switches
    sometimes(True, one_in=8),  # the global kill switch
)


def check_stake(settings_: RiskSettings, s: RiskState, stake: Decimal) -> None:
    assert max(MIN_STAKE, settings_.market_min_stake) <= stake <= min(settings_.max_stake, settings_.market_max_stake)
    assert stake == stake.quantize(CENT)
    assert stake <= settings_.daily_loss_limit - max(D(0), -s.today_pnl) - s.open_stake
    drawdown_limit = to_cents(s.starting_equity * settings_.max_drawdown_pct / 100)
    assert stake <= drawdown_limit - (s.starting_equity - s.equity) - s.open_stake
    assert s.consecutive_losses < settings_.max_consecutive_losses
    assert s.consecutive_errors < settings_.max_consecutive_errors
    assert s.trades_today < settings_.max_trades_per_day
    assert s.open_contracts < settings_.max_open_contracts


@settings(max_examples=150, deadline=None)
@given(
    settings_=valid_settings(),
    equity=st.one_of(money(1_000, 50_000), money(50_000, 5_000_000)),
    payout_pct=st.integers(10, 100),
    steps=st.lists(step, min_size=10, max_size=150),
)
def test_no_run_of_results_lets_a_stake_or_a_limit_be_exceeded(settings_, equity, payout_pct, steps):
    s = start(day=DAY, equity=equity)
    switches = OFF
    open_stakes: list[Decimal] = []
    stopped_by: str | None = None  # what the caller saw, tracked apart from the state under test

    for action, buy_goes_through, which, outcome, user_switch, global_switch in steps:
        if action == "decide":
            sizing = size(settings_, s, kill_switches=switches)
            if stopped_by is not None or switches.user or switches.platform:
                assert sizing.stake is None
            if sizing.stop is not None:
                assert sizing.stake is None
                stopped_by = sizing.stop
                s = stop(s, sizing.stop)
            elif sizing.stake is not None:
                check_stake(settings_, s, sizing.stake)
                if buy_goes_through:
                    s = after_buy(s, stake=sizing.stake)
                    open_stakes.append(sizing.stake)
                else:
                    s = after_error(s)
            else:
                assert sizing.reason
        elif action == "settle" and open_stakes:
            stake = open_stakes.pop(which % len(open_stakes))
            profit = {"win": to_cents(stake * payout_pct / 100), "loss": -stake, "tie": D("0.00")}[outcome]
            s = after_result(settings_, s, stake=stake, profit=profit)
        elif action == "error":
            s = after_error(s)
        elif action == "roll":
            s = roll_day(s, s.day + timedelta(days=1))
            if stopped_by in (StopReason.DAILY_LOSS_LIMIT, StopReason.MAX_TRADES_PER_DAY):
                stopped_by = None
        elif action == "kill":
            switches = KillSwitches(user=user_switch, platform=global_switch)
        elif action == "restart" and stopped_by is not None:
            s = restart(s)
            stopped_by = None

        # Held after every step, whatever happened: losses so far plus every open stake fit in both limits.
        assert max(D(0), -s.today_pnl) + s.open_stake <= settings_.daily_loss_limit
        drawdown_limit = to_cents(s.starting_equity * settings_.max_drawdown_pct / 100)
        assert (s.starting_equity - s.equity) + s.open_stake <= drawdown_limit
        assert s.open_contracts == len(open_stakes)
        assert s.open_stake == sum(open_stakes, D("0.00"))
        assert s.trades_today <= settings_.max_trades_per_day
        assert s.recovery_step <= settings_.fibonacci_max_steps


@settings(max_examples=300, deadline=None)
@given(
    settings_=valid_settings(),
    starting=money(0, 100_000),
    equity=money(0, 200_000),
    today_pnl=money(-20_000, 20_000),
    open_contracts=st.integers(0, 5),
    open_stake=money(0, 5_000),
    recovery_step=st.integers(0, 12),
    consecutive_losses=st.integers(0, 10),
)
def test_any_stake_from_any_state_is_within_every_limit(
    settings_, starting, equity, today_pnl, open_contracts, open_stake, recovery_step, consecutive_losses
):
    s = state(
        starting_equity=starting,
        equity=equity,
        today_pnl=today_pnl,
        open_contracts=open_contracts,
        open_stake=open_stake,
        recovery_step=recovery_step,
        consecutive_losses=consecutive_losses,
    )

    sizing = size(settings_, s, kill_switches=OFF)

    if sizing.stake is not None:
        check_stake(settings_, s, sizing.stake)
    assert sizing.reason
