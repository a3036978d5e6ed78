"""The bots' risk manager: sizes each stake or refuses it, and says when a bot must stop.

Pure and deterministic (no models, no database, no clock), so the live worker
and the backtest call the very same rules. The caller owns the state: it loads
a `RiskState`, asks `size()`, and records what happened with `after_buy`,
`after_result`, `after_error`, `stop` and `roll_day`, each returning a new state.

Rules where the issue is silent:

- Stakes already in open contracts are counted as lost until they settle, so
  no combination of results can take today's loss past the daily limit or the
  equity past the drawdown limit. When only open stakes leave too little room
  the bot skips (they may still win); when realized results do, it stops.
- Today's profits do not raise the daily loss allowance; it is the limit minus
  today's net loss, if any. (Otherwise yesterday's winnings, still at stake
  in open contracts at midnight, could lose more than the limit today.)
- Drawdown is measured from the equity the bot started with, not from a peak.
- A trade counts toward the daily maximum when it is bought, not when it settles.
- Stops are sticky: once the caller records one with `stop()`, `size()` refuses
  until `roll_day` clears a daily stop (loss limit, trades per day) or the
  trader starts the bot again (`restart()`: streaks and errors cleared, daily
  counters, open stakes and starting equity kept, so a restart never buys
  back room under a limit). Kill switches are passed to
  `size()` rather than kept in the state: they belong to the user and to the
  platform, not to the bot, and must be read fresh at every decision.
"""

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

# The platform's smallest stake (markets may ask for more, never less).
MIN_STAKE = Decimal("0.35")
# Same rounding rule as the ledger (down to the cent); not imported from
# apps.ledger.services because that module loads Django models.
CENT = Decimal("0.01")


class Recovery(StrEnum):
    NONE = "NONE"
    FIBONACCI = "FIBONACCI"


class StopReason(StrEnum):
    GLOBAL_KILL_SWITCH = "GLOBAL_KILL_SWITCH"
    USER_KILL_SWITCH = "USER_KILL_SWITCH"
    CONSECUTIVE_ERRORS = "CONSECUTIVE_ERRORS"
    CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
    MAX_TRADES_PER_DAY = "MAX_TRADES_PER_DAY"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_DRAWDOWN = "MAX_DRAWDOWN"
    STAKE_LIMITS = "STAKE_LIMITS"

    @property
    def label(self) -> str:
        return _STOP_LABELS[self]


_STOP_LABELS = {
    StopReason.GLOBAL_KILL_SWITCH: "the global kill switch is on",
    StopReason.USER_KILL_SWITCH: "your kill switch is on",
    StopReason.CONSECUTIVE_ERRORS: "too many errors in a row",
    StopReason.CONSECUTIVE_LOSSES: "too many losses in a row",
    StopReason.MAX_TRADES_PER_DAY: "the maximum number of trades for today was reached",
    StopReason.DAILY_LOSS_LIMIT: "the daily loss limit was reached",
    StopReason.MAX_DRAWDOWN: "the maximum drawdown was reached",
    StopReason.STAKE_LIMITS: "the stake limits leave no valid stake",
}

# Stops that lift by themselves when the day rolls over; every other stop
# waits for the trader to start the bot again.
DAILY_STOPS = frozenset({StopReason.DAILY_LOSS_LIMIT, StopReason.MAX_TRADES_PER_DAY})


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_DOWN)


def fibonacci(step: int) -> int:
    """Stake multiplier at a recovery step: 1, 1, 2, 3, 5, 8, ... for steps 0, 1, 2, ..."""
    a, b = 1, 1
    for _ in range(step):
        a, b = b, a + b
    return a


@dataclass(frozen=True)
class RiskSettings:
    base_stake: Decimal
    max_stake: Decimal
    market_min_stake: Decimal = MIN_STAKE
    market_max_stake: Decimal = Decimal("1000.00")
    # No recovery unless the trader opts in: it is the safer default.
    recovery: str = Recovery.NONE
    fibonacci_max_steps: int = 5
    daily_loss_limit: Decimal = Decimal("100.00")
    max_consecutive_losses: int = 5
    max_trades_per_day: int = 50
    max_open_contracts: int = 3
    max_drawdown_pct: Decimal = Decimal("20")
    max_consecutive_errors: int = 5

    def errors(self) -> dict[str, str]:
        """Every out-of-range value, by field, in words a trader understands (for forms)."""
        errors: dict[str, str] = {}
        for name, label in (
            ("base_stake", "The base stake"),
            ("max_stake", "The maximum stake"),
            ("market_min_stake", "The market's minimum stake"),
            ("market_max_stake", "The market's maximum stake"),
            ("daily_loss_limit", "The daily loss limit"),
        ):
            value = getattr(self, name)
            if value != value.quantize(CENT):
                errors[name] = f"{label} can have at most two decimal places."
        if "base_stake" not in errors:
            if self.base_stake < max(MIN_STAKE, self.market_min_stake):
                errors["base_stake"] = (
                    f"The base stake must be at least {max(MIN_STAKE, self.market_min_stake)}, "
                    "the smallest stake this market accepts."
                )
            elif self.base_stake > self.max_stake:
                errors["base_stake"] = (
                    f"The base stake ({self.base_stake}) cannot be more than the maximum stake ({self.max_stake})."
                )
            elif self.base_stake > self.market_max_stake:
                errors["base_stake"] = (
                    f"The base stake ({self.base_stake}) is above this market's maximum of {self.market_max_stake}."
                )
        if self.market_min_stake < MIN_STAKE:
            errors.setdefault("market_min_stake", f"A market's minimum stake cannot be below {MIN_STAKE}.")
        if self.market_max_stake < self.market_min_stake:
            errors.setdefault("market_max_stake", "The market's maximum stake is below its minimum.")
        if self.recovery not in tuple(Recovery):
            errors["recovery"] = "Choose no recovery or Fibonacci recovery (martingale is not offered)."
        if not 1 <= self.fibonacci_max_steps <= 10:
            errors["fibonacci_max_steps"] = "Fibonacci recovery can have 1 to 10 steps."
        if self.daily_loss_limit <= 0:
            errors.setdefault("daily_loss_limit", "The daily loss limit must be more than 0.")
        elif self.daily_loss_limit < self.base_stake:
            errors.setdefault(
                "daily_loss_limit",
                f"The daily loss limit ({self.daily_loss_limit}) must allow at least one base stake "
                f"({self.base_stake}).",
            )
        for name, what in (
            ("max_consecutive_losses", "Maximum losses in a row"),
            ("max_trades_per_day", "Maximum trades per day"),
            ("max_open_contracts", "Maximum open contracts"),
            ("max_consecutive_errors", "Maximum errors in a row"),
        ):
            if getattr(self, name) < 1:
                errors[name] = f"{what} must be at least 1."
        if not 0 < self.max_drawdown_pct <= 100:
            errors["max_drawdown_pct"] = "The maximum drawdown must be more than 0% and at most 100%."
        return errors

    def validate(self) -> None:
        # Not in __post_init__: a market's limits can change after a bot was
        # saved, and the worker must still be able to build settings and let
        # size() refuse with a reason instead of crashing the decision.
        if errors := self.errors():
            raise ValueError(" ".join(errors.values()))


@dataclass(frozen=True)
class RiskState:
    day: date
    starting_equity: Decimal
    equity: Decimal
    today_pnl: Decimal = Decimal("0.00")
    trades_today: int = 0
    consecutive_losses: int = 0
    recovery_step: int = 0
    open_contracts: int = 0
    # Total stake in contracts bought but not settled yet.
    open_stake: Decimal = Decimal("0.00")
    consecutive_errors: int = 0
    stopped_reason: str | None = None


@dataclass(frozen=True)
class KillSwitches:
    """Read fresh for every decision: the user's own switch and the platform-wide one."""

    user: bool = False
    platform: bool = False


class SkipCode(StrEnum):
    """Why `size()` skipped a decision without stopping the bot."""

    MAX_OPEN_CONTRACTS = "MAX_OPEN_CONTRACTS"
    OPEN_STAKES = "OPEN_STAKES"


@dataclass(frozen=True)
class Sizing:
    """A stake, or None with the reason; `stop` is set when the bot must stop itself, not just skip.

    A skip (no stake, no stop) also carries its `skip` code, for counting.
    """

    stake: Decimal | None
    reason: str
    stop: str | None = None
    skip: str | None = None


def start(*, day: date, equity: Decimal) -> RiskState:
    """A new bot's first state: drawdown is measured from this equity."""
    return RiskState(day=day, starting_equity=equity, equity=equity)


def restart(state: RiskState) -> RiskState:
    """The trader starts a stopped bot again: they chose to go on after the streak or the errors.

    Daily counters, open stakes and the starting equity stay: a bot stopped by
    the daily loss limit or the drawdown stops again at once until the day
    rolls or the trader raises that limit.
    """
    return replace(state, consecutive_losses=0, recovery_step=0, consecutive_errors=0, stopped_reason=None)


def size(settings: RiskSettings, state: RiskState, *, kill_switches: KillSwitches) -> Sizing:
    if kill_switches.platform:
        return Sizing(None, "The global kill switch is on: no bot may trade.", StopReason.GLOBAL_KILL_SWITCH)
    if kill_switches.user:
        return Sizing(None, "Your kill switch is on: none of your bots may trade.", StopReason.USER_KILL_SWITCH)
    if state.stopped_reason is not None:
        label = _STOP_LABELS.get(state.stopped_reason, state.stopped_reason)
        return Sizing(None, f"The bot is stopped: {label}.", state.stopped_reason)

    if state.consecutive_errors >= settings.max_consecutive_errors:
        return Sizing(
            None,
            f"{state.consecutive_errors} errors in a row (limit {settings.max_consecutive_errors}).",
            StopReason.CONSECUTIVE_ERRORS,
        )
    if state.consecutive_losses >= settings.max_consecutive_losses:
        return Sizing(
            None,
            f"{state.consecutive_losses} losses in a row (limit {settings.max_consecutive_losses}).",
            StopReason.CONSECUTIVE_LOSSES,
        )
    if state.trades_today >= settings.max_trades_per_day:
        return Sizing(
            None,
            f"{state.trades_today} trades today (limit {settings.max_trades_per_day}).",
            StopReason.MAX_TRADES_PER_DAY,
        )

    floor = max(MIN_STAKE, settings.market_min_stake)
    cap = min(settings.max_stake, settings.market_max_stake)
    today_loss = max(Decimal("0.00"), -state.today_pnl)
    daily_left = settings.daily_loss_limit - today_loss
    if daily_left < floor:
        return Sizing(
            None,
            f"Today's loss of {today_loss} leaves {daily_left} of the {settings.daily_loss_limit} daily loss limit, "
            f"less than the {floor} minimum stake.",
            StopReason.DAILY_LOSS_LIMIT,
        )
    drawdown = state.starting_equity - state.equity
    drawdown_limit = to_cents(state.starting_equity * settings.max_drawdown_pct / 100)
    drawdown_left = drawdown_limit - drawdown
    if drawdown_left < floor:
        return Sizing(
            None,
            f"Equity {state.equity} is {drawdown} below the starting {state.starting_equity}; "
            f"the {settings.max_drawdown_pct}% drawdown limit ({drawdown_limit}) leaves {drawdown_left}, "
            f"less than the {floor} minimum stake.",
            StopReason.MAX_DRAWDOWN,
        )
    if to_cents(cap) < floor:
        return Sizing(
            None,
            f"The smallest stake allowed ({floor}) is above the largest ({cap}): "
            "check the bot's and the market's stake limits.",
            StopReason.STAKE_LIMITS,
        )

    if state.open_contracts >= settings.max_open_contracts:
        return Sizing(
            None,
            f"{state.open_contracts} contracts open, the most this bot may hold ({settings.max_open_contracts}).",
            skip=SkipCode.MAX_OPEN_CONTRACTS,
        )

    step = min(state.recovery_step, settings.fibonacci_max_steps) if settings.recovery == Recovery.FIBONACCI else 0
    multiplier = fibonacci(step)
    stake = settings.base_stake * multiplier
    if step:
        reason = (
            f"recovery step {step} of {settings.fibonacci_max_steps} after {state.consecutive_losses} "
            f"{'loss' if state.consecutive_losses == 1 else 'losses'}: "
            f"{multiplier} × {settings.base_stake} = {stake}"
        )
    else:
        reason = f"base stake {stake}"
    if stake < floor:
        stake = floor
        reason += f"; raised to the minimum stake {floor}"
    if stake > cap:
        stake = cap
        owner = "bot's" if settings.max_stake <= settings.market_max_stake else "market's"
        reason += f"; capped at the {owner} maximum {cap}"

    # Open stakes may all still lose: only what is left after them can be staked.
    for left, what in (
        (daily_left - state.open_stake, "today's loss limit"),
        (drawdown_left - state.open_stake, "the drawdown limit"),
    ):
        if stake > left:
            stake = to_cents(left)
            if stake < floor:
                return Sizing(
                    None,
                    f"{state.open_stake} is at stake in open contracts, leaving {to_cents(left)} of {what}, "
                    f"less than the {floor} minimum stake; waiting for them to settle.",
                    skip=SkipCode.OPEN_STAKES,
                )
            reason += f"; cut to {stake}, what is left of {what}"
    stake = to_cents(stake)
    return Sizing(stake, reason[0].upper() + reason[1:] + ".")


def stop(state: RiskState, reason: str) -> RiskState:
    return replace(state, stopped_reason=reason)


def after_buy(state: RiskState, *, stake: Decimal) -> RiskState:
    # A buy that went through ends an error streak.
    return replace(
        state,
        trades_today=state.trades_today + 1,
        open_contracts=state.open_contracts + 1,
        open_stake=state.open_stake + stake,
        consecutive_errors=0,
    )


def after_error(state: RiskState) -> RiskState:
    return replace(state, consecutive_errors=state.consecutive_errors + 1)


def after_result(settings: RiskSettings, state: RiskState, *, stake: Decimal, profit: Decimal) -> RiskState:
    """A contract of `stake` settled with `profit` (negative for a loss, 0 for a tie or refund)."""
    settled = replace(
        state,
        equity=state.equity + profit,
        today_pnl=state.today_pnl + profit,
        open_contracts=max(0, state.open_contracts - 1),
        open_stake=max(Decimal("0.00"), state.open_stake - stake),
    )
    if profit > 0:
        return replace(settled, consecutive_losses=0, recovery_step=0)
    if profit < 0:
        step = (
            min(state.recovery_step + 1, settings.fibonacci_max_steps) if settings.recovery == Recovery.FIBONACCI else 0
        )
        return replace(settled, consecutive_losses=state.consecutive_losses + 1, recovery_step=step)
    return settled


def roll_day(state: RiskState, today: date) -> RiskState:
    """Start a new trading day: daily counters reset and daily stops lift. Never goes back in time."""
    if today <= state.day:
        return state
    stopped = None if state.stopped_reason in DAILY_STOPS else state.stopped_reason
    return replace(state, day=today, today_pnl=Decimal("0.00"), trades_today=0, stopped_reason=stopped)
