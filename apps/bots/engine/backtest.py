"""Backtests: a bot's settings run over recorded or generated prices, with a simulated clock.

Pure (no models, no database, no wall clock, no randomness): the same spec and
ticks give the same report. It runs the live bots' code on the way: the
strategies' and the regime's streams, `decide`, and the risk manager. Per
tick, in the live worker's order:

1. a new UTC day rolls the risk state over (`roll_day`);
2. open contracts whose exit is now known settle by Deriv's rules, as
   apps/trading/services.py does: the entry spot is the first tick after the
   decision's tick; the exit is the Nth tick after the entry for a duration of
   N ticks, or the last tick at or before expiry (decision time + N minutes)
   once a later tick shows expiry passed. Rise wins if exit > entry, Fall if
   exit < entry; an equal exit refunds the stake (REFUND) or loses (LOSE). A
   win pays stake × (1 + payout%/100) rounded down to the cent, less the
   commission and partner markup the trader's live contracts would carry
   (each a share of the win's profit, rounded down to the cent). A minute
   contract with no tick after its decision's tick at or before expiry is
   void (refunded). The result goes to `after_result`;
3. the decision on the prices so far; for RISE or FALL, the regime (when the
   bot blocks it the decision is skipped), then `size()`, then the purchase
   when the simulated balance covers the stake.

Stops: a stop that lifts with the day (daily loss limit, trades per day)
pauses the bot until the next UTC day, as live; any other stop ends the run,
once the contracts already open have settled. Contracts still open when the
prices run out are void (stake refunded).

Equity is the starting balance plus realized profit (open stakes at cost), as
the risk manager counts it; the drawdown is measured on it from its running
peak.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

from apps.markets.generator import GeneratorSettings, PriceGenerator

from .config import DecisionConfig
from .regime import RegimeKind, RegimeStream
from .risk import (
    DAILY_STOPS,
    KillSwitches,
    RiskSettings,
    after_buy,
    after_result,
    roll_day,
    size,
    start,
    stop,
    to_cents,
)
from .votes import Direction

TICKS, MINUTES = "t", "m"
REFUND, LOSE = "REFUND", "LOSE"
EQUITY_POINTS = 500
# How often progress is reported when the caller does not know the total.
PROGRESS_EVERY = 10_000

RATIO = Decimal("0.0001")
PERCENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class BacktestSpec:
    decision: DecisionConfig
    blocked_regimes: frozenset[str]
    risk: RiskSettings
    duration: int
    duration_unit: str  # "t" (ticks) or "m" (minutes)
    payout_percent: Decimal
    tie_rule: str  # "REFUND" or "LOSE"
    starting_balance: Decimal
    # Shares of a win's profit taken as platform commission and partner markup, in percent.
    commission_percent: Decimal = ZERO
    markup_percent: Decimal = ZERO

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocked_regimes", frozenset(str(kind) for kind in self.blocked_regimes))
        unknown = self.blocked_regimes - set(RegimeKind)
        if unknown:
            raise ValueError(f"unknown regime(s) {', '.join(sorted(unknown))}")
        if self.duration_unit not in (TICKS, MINUTES):
            raise ValueError(f"the duration unit must be 't' (ticks) or 'm' (minutes), not {self.duration_unit!r}")
        if isinstance(self.duration, bool) or not isinstance(self.duration, int) or self.duration < 1:
            raise ValueError(f"the duration must be a whole number of at least 1, not {self.duration!r}")
        if self.tie_rule not in (REFUND, LOSE):
            raise ValueError(f"the tie rule must be REFUND or LOSE, not {self.tie_rule!r}")
        if not Decimal(self.payout_percent) > 0:
            raise ValueError(f"the payout must be above 0%, not {self.payout_percent}")
        if not Decimal(self.starting_balance) > 0:
            raise ValueError(f"the starting balance must be above 0, not {self.starting_balance}")


@dataclass(frozen=True)
class SimTrade:
    """One simulated contract, as it settled."""

    bought_at: datetime  # the decision's tick
    settled_at: datetime
    direction: str
    stake: Decimal
    entry: Decimal | None
    exit: Decimal | None
    outcome: str  # WON, LOST, TIE (refunded) or VOID (refunded without a result)
    profit: Decimal


@dataclass(frozen=True)
class BacktestReport:
    ticks: int
    first_tick: datetime | None
    last_tick: datetime | None
    trades: int  # contracts bought
    wins: int
    losses: int  # equal exits under the LOSE rule included, as the ledger counts them
    ties: int  # equal exits refunded under the REFUND rule
    void: int  # refunded without a result: no exit tick before expiry, or still open at the end
    win_rate: Decimal | None  # wins / (wins + losses); ties left out
    net_pnl: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    max_drawdown: Decimal  # the largest fall of equity from its running peak
    max_drawdown_pct: Decimal  # the largest such fall as a % of that peak
    profit_factor: Decimal | None  # gross profit / gross loss; None without a loss
    expectancy: Decimal | None  # net P&L per settled contract (wins, losses and ties)
    longest_losing_streak: int
    breakeven_win_rate: Decimal  # the win rate at which the payout makes the expected profit 0
    fees: Decimal  # commission and markup taken from wins (profits above are net of them)
    starting_balance: Decimal
    final_balance: Decimal
    stop_reason: str | None  # the stop that ended the run, if one did
    stopped_at: datetime | None
    daily_stops: Mapping[str, int]  # pauses until the next day, by reason
    skips: Mapping[str, int]  # trade decisions not traded, by reason
    decisions: Mapping[str, int]  # every tick's decision, by direction
    equity_curve: tuple[tuple[datetime, Decimal], ...]  # at most EQUITY_POINTS, first and last included
    # Per UTC day a contract was bought (the risk manager's day): {"trades", "wins", "net"}.
    daily: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, times in ISO 8601."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "equity_curve":
                value = [[moment.isoformat(), str(equity)] for moment, equity in value]
            elif f.name == "daily":
                value = {day: {**row, "net": str(row["net"])} for day, row in sorted(value.items())}
            elif isinstance(value, Mapping):
                value = dict(sorted(value.items()))
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BacktestReport":
        """The report `to_dict` gave (after a JSON round trip too)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "daily":
                # Reports saved before the daily breakdown have none.
                values["daily"] = {
                    day: {**row, "net": Decimal(row["net"])} for day, row in (data.get("daily") or {}).items()
                }
                continue
            value = data[f.name]
            if f.name == "equity_curve":
                value = tuple((datetime.fromisoformat(moment), Decimal(equity)) for moment, equity in value)
            elif value is None or f.name in _AS_IS:
                pass
            elif f.name in _TIMES:
                value = datetime.fromisoformat(value)
            elif f.name in _COUNTS:
                value = dict(value)
            else:
                value = Decimal(value)
            values[f.name] = value
        return cls(**values)


_AS_IS = {"ticks", "trades", "wins", "losses", "ties", "void", "longest_losing_streak", "stop_reason"}
_TIMES = {"first_tick", "last_tick", "stopped_at"}
_COUNTS = {"daily_stops", "skips", "decisions"}


@dataclass
class _Contract:
    index: int  # of the decision's tick
    bought_at: datetime
    direction: str
    stake: Decimal
    payout: Decimal
    exit_index: int  # tick durations: the exit tick
    expires_at: datetime | None  # minute durations
    entry: Decimal | None = None
    exit: Decimal | None = None
    void: bool = False


@dataclass
class _Tally:
    """Results as contracts settle, in settlement order."""

    starting: Decimal
    equity: Decimal = ZERO
    peak: Decimal = ZERO
    max_drawdown: Decimal = ZERO
    max_drawdown_pct: Decimal = ZERO
    wins: int = 0
    losses: int = 0
    ties: int = 0
    void: int = 0
    gross_profit: Decimal = ZERO
    gross_loss: Decimal = ZERO
    fees: Decimal = ZERO
    streak: int = 0
    longest_streak: int = 0
    curve: list[tuple[datetime, Decimal]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.equity = self.peak = self.starting

    def record(self, moment: datetime, profit: Decimal) -> None:
        if not profit:
            return
        self.equity += profit
        if self.equity > self.peak:
            self.peak = self.equity
        drop = self.peak - self.equity
        if drop > self.max_drawdown:
            self.max_drawdown = drop
        if drop and self.peak > 0:
            pct = drop * 100 / self.peak
            if pct > self.max_drawdown_pct:
                self.max_drawdown_pct = pct
        self.curve.append((moment, self.equity))


def payout_for(stake: Decimal, payout_percent: Decimal) -> Decimal:
    """What a win pays back, stake included, rounded down to the cent (as apps.trading.services.payout_for)."""
    return to_cents(stake * (1 + payout_percent / 100))


def breakeven_win_rate(payout_percent: Decimal) -> Decimal:
    """The win rate at which wins (+stake × payout%) pay for losses (-stake), ties left out."""
    return (1 / (1 + Decimal(payout_percent) / 100)).quantize(RATIO)


def run(
    spec: BacktestSpec,
    ticks: Iterable[tuple[datetime, Decimal]],
    *,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
    on_trade: Callable[[SimTrade], None] | None = None,
) -> BacktestReport:
    """Backtest `spec` over `ticks` (time-aware datetimes, oldest first).

    `on_trade(trade)` is called for each contract as it settles (the caller
    keeps what it wants of them: the report itself holds only totals).

    `progress(done, total)` is called about every 1% of `total` (every
    PROGRESS_EVERY ticks when `total` is None) and once at the end, when
    `done == total`.
    """
    settings = spec.risk
    payout_percent = Decimal(spec.payout_percent)
    commission, markup = Decimal(spec.commission_percent), Decimal(spec.markup_percent)
    refund_ties = spec.tie_rule == REFUND
    by_ticks = spec.duration_unit == TICKS
    minutes = timedelta(minutes=spec.duration)
    blocked = spec.blocked_regimes
    switches = KillSwitches()
    decisions = spec.decision.stream()
    regimes = RegimeStream()
    every = max(1, total // 100) if total else PROGRESS_EVERY

    balance = Decimal(spec.starting_balance)
    tally = _Tally(starting=balance)
    state = None
    next_day: datetime | None = None
    first_tick = last_tick = None
    open_contracts: list[_Contract] = []
    trades = 0
    directions = {Direction.RISE.value: 0, Direction.FALL.value: 0, Direction.NONE.value: 0}
    skips: dict[str, int] = {}
    daily_stops: dict[str, int] = {}
    stop_reason: str | None = None
    stopped_at: datetime | None = None
    done = 0
    daily: dict[str, dict[str, Any]] = {}

    def settle(contract: _Contract, moment: datetime) -> None:
        nonlocal balance, state
        entry, exit_ = contract.entry, contract.exit
        if contract.void or entry is None or exit_ is None:
            tally.void += 1
            profit, paid, outcome = ZERO, contract.stake, "VOID"
        elif exit_ == entry and refund_ties:
            tally.ties += 1
            profit, paid, outcome = ZERO, contract.stake, "TIE"
        elif exit_ != entry and (exit_ > entry) == (contract.direction == Direction.RISE):
            tally.wins += 1
            won = contract.payout - contract.stake
            fees = to_cents(won * commission / 100) + to_cents(won * markup / 100)
            profit, paid, outcome = won - fees, contract.payout - fees, "WON"
            tally.gross_profit += profit
            tally.fees += fees
            tally.streak = 0
        else:
            tally.losses += 1
            profit, paid, outcome = -contract.stake, ZERO, "LOST"
            tally.gross_loss += contract.stake
            tally.streak += 1
            tally.longest_streak = max(tally.longest_streak, tally.streak)
        balance += paid
        state = after_result(settings, state, stake=contract.stake, profit=profit)
        tally.record(moment, profit)
        day = daily[contract.bought_at.astimezone(UTC).date().isoformat()]
        day["wins"] += outcome == "WON"
        day["net"] += profit
        if on_trade is not None:
            on_trade(
                SimTrade(
                    bought_at=contract.bought_at,
                    settled_at=moment,
                    direction=str(contract.direction),
                    stake=contract.stake,
                    entry=entry,
                    exit=exit_,
                    outcome=outcome,
                    profit=profit,
                )
            )

    for index, (moment, price) in enumerate(ticks):
        if state is None:
            if moment.tzinfo is None:
                raise ValueError("tick times must be timezone-aware")
            first_tick = moment
            state = start(day=moment.astimezone(UTC).date(), equity=balance)
            next_day = _midnight_after(moment)
            tally.curve.append((moment, balance))
        elif moment >= next_day:
            state = roll_day(state, moment.astimezone(UTC).date())
            next_day = _midnight_after(moment)
        last_tick = moment
        done += 1
        if progress is not None and done % every == 0:
            progress(done, total)

        if open_contracts:
            still_open = []
            for contract in open_contracts:
                if by_ticks:
                    if index == contract.index + 1:
                        contract.entry = price
                    if index == contract.exit_index:
                        contract.exit = price
                        settle(contract, moment)
                        continue
                else:
                    if contract.entry is None:
                        contract.entry = price
                    if moment <= contract.expires_at:
                        contract.exit = price
                    else:
                        settle(contract, moment)
                        continue
                still_open.append(contract)
            open_contracts = still_open

        if stop_reason is not None:
            # Stopped for good: only the open contracts are left to settle.
            if not open_contracts:
                break
            continue

        value = float(price)
        regimes.add(value)
        decision = decisions.add(value)
        direction = decision.direction
        directions[direction] += 1
        if direction == Direction.NONE:
            continue
        if blocked and regimes.regime().kind in blocked:
            skips["regime"] = skips.get("regime", 0) + 1
            continue
        sizing = size(settings, state, kill_switches=switches)
        if sizing.stop is not None:
            if sizing.stop in DAILY_STOPS:
                # Paused until the next day: roll_day lifts it, as it does live.
                if state.stopped_reason is None:
                    state = stop(state, sizing.stop)
                    daily_stops[sizing.stop] = daily_stops.get(sizing.stop, 0) + 1
                code = sizing.stop.lower()
                skips[code] = skips.get(code, 0) + 1
                continue
            state = stop(state, sizing.stop)
            stop_reason, stopped_at = sizing.stop, moment
            if not open_contracts:
                break
            continue
        if sizing.stake is None:
            code = (sizing.skip or "risk").lower()
            skips[code] = skips.get(code, 0) + 1
            continue
        stake = sizing.stake
        if stake > balance:
            skips["balance"] = skips.get("balance", 0) + 1
            continue
        state = after_buy(state, stake=stake)
        balance -= stake
        trades += 1
        row = daily.setdefault(moment.astimezone(UTC).date().isoformat(), {"trades": 0, "wins": 0, "net": ZERO})
        row["trades"] += 1
        open_contracts.append(
            _Contract(
                index=index,
                bought_at=moment,
                direction=direction,
                stake=stake,
                payout=payout_for(stake, payout_percent),
                exit_index=index + 1 + spec.duration,
                expires_at=None if by_ticks else moment + minutes,
            )
        )

    for contract in open_contracts:
        # The prices ran out. A minute contract whose expiry is no later than
        # the last tick settles on its last tick (live: after the grace period);
        # any other is void.
        contract.void = by_ticks or contract.expires_at > last_tick
        settle(contract, last_tick)
    if last_tick is not None and tally.curve[-1][0] != last_tick:
        tally.curve.append((last_tick, tally.equity))
    if progress is not None:
        end = total if total is not None and total >= done else done
        progress(end, end)

    settled = tally.wins + tally.losses + tally.ties
    decided = tally.wins + tally.losses
    net = tally.equity - tally.starting
    return BacktestReport(
        ticks=done,
        first_tick=first_tick,
        last_tick=last_tick,
        trades=trades,
        wins=tally.wins,
        losses=tally.losses,
        ties=tally.ties,
        void=tally.void,
        win_rate=(Decimal(tally.wins) / decided).quantize(RATIO) if decided else None,
        net_pnl=net,
        gross_profit=tally.gross_profit,
        gross_loss=tally.gross_loss,
        max_drawdown=tally.max_drawdown,
        max_drawdown_pct=tally.max_drawdown_pct.quantize(PERCENT),
        profit_factor=(tally.gross_profit / tally.gross_loss).quantize(RATIO) if tally.gross_loss else None,
        expectancy=(net / settled).quantize(RATIO) if settled else None,
        longest_losing_streak=tally.longest_streak,
        # What a win keeps of its payout% once commission and markup are taken.
        breakeven_win_rate=breakeven_win_rate(payout_percent * (1 - (commission + markup) / 100)),
        fees=tally.fees,
        starting_balance=tally.starting,
        final_balance=balance,
        stop_reason=stop_reason,
        stopped_at=stopped_at,
        daily_stops=daily_stops,
        skips=skips,
        decisions=directions,
        equity_curve=downsample(tally.curve, EQUITY_POINTS),
        daily=daily,
    )


def _midnight_after(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, clock_time.min, tzinfo=UTC)


def downsample(points: list[tuple[datetime, Decimal]], most: int) -> tuple[tuple[datetime, Decimal], ...]:
    """At most `most` points, evenly spread over the list, the first and the last always kept."""
    if len(points) <= most:
        return tuple(points)
    last = len(points) - 1
    return tuple(points[round(i * last / (most - 1))] for i in range(most))


def generated_ticks(
    seed: int,
    start: datetime,
    count: int,
    interval_ms: int,
    settings: GeneratorSettings,
    price: Decimal,
) -> Iterator[tuple[datetime, Decimal]]:
    """`count` ticks of the OTC generator from `price`, `interval_ms` apart from `start`.

    A fresh market's feed starts the same way (its seed, its base price), so
    the same arguments replay the series a new market with those settings
    would produce.
    """
    generator = PriceGenerator(seed=seed, price=price, settings=settings)
    step = timedelta(milliseconds=interval_ms)
    for i in range(count):
        yield start + step * i, generator.next()
