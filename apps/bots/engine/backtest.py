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
from itertools import islice
from typing import Any

import numpy as np

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
# Ticks read and decided at once: large enough for numpy to pay, small enough to bound memory.
BLOCK = 65_536
RISE_CODE, FALL_CODE = 1, -1

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


class _Run:
    """One backtest's bookkeeping, tick by tick in the live worker's order: both loops below drive it."""

    def __init__(
        self,
        spec: BacktestSpec,
        progress: Callable[[int, int | None], None] | None,
        total: int | None,
        on_trade: Callable[[SimTrade], None] | None,
    ):
        self.spec, self.settings = spec, spec.risk
        self.payout_percent = Decimal(spec.payout_percent)
        self.commission, self.markup = Decimal(spec.commission_percent), Decimal(spec.markup_percent)
        self.refund_ties = spec.tie_rule == REFUND
        self.by_ticks = spec.duration_unit == TICKS
        self.minutes = timedelta(minutes=spec.duration)
        self.blocked = spec.blocked_regimes
        self.switches = KillSwitches()
        self.progress, self.total, self.on_trade = progress, total, on_trade
        self.every = max(1, total // 100) if total else PROGRESS_EVERY

        self.balance = Decimal(spec.starting_balance)
        self.tally = _Tally(starting=self.balance)
        self.state = None
        self.next_day: datetime | None = None
        self.first_tick: datetime | None = None
        self.last_tick: datetime | None = None
        self.open_contracts: list[_Contract] = []
        self.trades = 0
        self.directions = {Direction.RISE.value: 0, Direction.FALL.value: 0, Direction.NONE.value: 0}
        self.skips: dict[str, int] = {}
        self.daily_stops: dict[str, int] = {}
        self.stop_reason: str | None = None
        self.stopped_at: datetime | None = None
        self.done = 0
        self.daily: dict[str, dict[str, Any]] = {}

    def reach(self, done: int) -> None:
        """`done` ticks read: report progress at each multiple of `every` passed since the last call."""
        if self.progress is not None:
            every = self.every
            for mark in range((self.done // every + 1) * every, done + 1, every):
                self.progress(mark, self.total)
        self.done = done

    def tick(self, index: int, moment: datetime, price: Decimal) -> None:
        """A new tick: the day may roll over, then the open contracts whose exit is now known settle."""
        if self.state is None:
            if moment.tzinfo is None:
                raise ValueError("tick times must be timezone-aware")
            self.first_tick = moment
            self.state = start(day=moment.astimezone(UTC).date(), equity=self.balance)
            self.next_day = _midnight_after(moment)
            self.tally.curve.append((moment, self.balance))
        elif moment >= self.next_day:
            self.state = roll_day(self.state, moment.astimezone(UTC).date())
            self.next_day = _midnight_after(moment)
        self.last_tick = moment
        self.reach(index + 1)

        if self.open_contracts:
            still_open = []
            for contract in self.open_contracts:
                if self.by_ticks:
                    if index == contract.index + 1:
                        contract.entry = price
                    if index == contract.exit_index:
                        contract.exit = price
                        self.settle(contract, moment)
                        continue
                else:
                    if contract.entry is None:
                        contract.entry = price
                    if moment <= contract.expires_at:
                        contract.exit = price
                    else:
                        self.settle(contract, moment)
                        continue
                still_open.append(contract)
            self.open_contracts = still_open

    def settle(self, contract: _Contract, moment: datetime) -> None:
        tally = self.tally
        entry, exit_ = contract.entry, contract.exit
        if contract.void or entry is None or exit_ is None:
            tally.void += 1
            profit, paid, outcome = ZERO, contract.stake, "VOID"
        elif exit_ == entry and self.refund_ties:
            tally.ties += 1
            profit, paid, outcome = ZERO, contract.stake, "TIE"
        elif exit_ != entry and (exit_ > entry) == (contract.direction == Direction.RISE):
            tally.wins += 1
            won = contract.payout - contract.stake
            fees = to_cents(won * self.commission / 100) + to_cents(won * self.markup / 100)
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
        self.balance += paid
        self.state = after_result(self.settings, self.state, stake=contract.stake, profit=profit)
        tally.record(moment, profit)
        day = self.daily[contract.bought_at.astimezone(UTC).date().isoformat()]
        day["wins"] += outcome == "WON"
        day["net"] += profit
        if self.on_trade is not None:
            self.on_trade(
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

    def trade(self, index: int, moment: datetime, direction: str, regime: Callable[[], str]) -> bool:
        """A RISE or FALL decision at this tick: the regime, the risk manager, then the purchase.

        `regime()` gives the regime's kind at this tick. True when a stop ends the run here.
        """
        skips = self.skips
        if self.blocked and regime() in self.blocked:
            skips["regime"] = skips.get("regime", 0) + 1
            return False
        sizing = size(self.settings, self.state, kill_switches=self.switches)
        if sizing.stop is not None:
            if sizing.stop in DAILY_STOPS:
                # Paused until the next day: roll_day lifts it, as it does live.
                if self.state.stopped_reason is None:
                    self.state = stop(self.state, sizing.stop)
                    self.daily_stops[sizing.stop] = self.daily_stops.get(sizing.stop, 0) + 1
                code = sizing.stop.lower()
                skips[code] = skips.get(code, 0) + 1
                return False
            self.state = stop(self.state, sizing.stop)
            self.stop_reason, self.stopped_at = sizing.stop, moment
            return not self.open_contracts
        if sizing.stake is None:
            code = (sizing.skip or "risk").lower()
            skips[code] = skips.get(code, 0) + 1
            return False
        stake = sizing.stake
        if stake > self.balance:
            skips["balance"] = skips.get("balance", 0) + 1
            return False
        self.state = after_buy(self.state, stake=stake)
        self.balance -= stake
        self.trades += 1
        day = moment.astimezone(UTC).date().isoformat()
        row = self.daily.setdefault(day, {"trades": 0, "wins": 0, "net": ZERO})
        row["trades"] += 1
        self.open_contracts.append(
            _Contract(
                index=index,
                bought_at=moment,
                direction=direction,
                stake=stake,
                payout=payout_for(stake, self.payout_percent),
                exit_index=index + 1 + self.spec.duration,
                expires_at=None if self.by_ticks else moment + self.minutes,
            )
        )
        return False

    def finish(self) -> BacktestReport:
        tally, last_tick = self.tally, self.last_tick
        for contract in self.open_contracts:
            # The prices ran out. A minute contract whose expiry is no later than
            # the last tick settles on its last tick (live: after the grace period);
            # any other is void.
            contract.void = self.by_ticks or contract.expires_at > last_tick
            self.settle(contract, last_tick)
        if last_tick is not None and tally.curve[-1][0] != last_tick:
            tally.curve.append((last_tick, tally.equity))
        done = self.done
        if self.progress is not None:
            end = self.total if self.total is not None and self.total >= done else done
            self.progress(end, end)

        settled = tally.wins + tally.losses + tally.ties
        decided = tally.wins + tally.losses
        net = tally.equity - tally.starting
        payout_percent, commission, markup = self.payout_percent, self.commission, self.markup
        return BacktestReport(
            ticks=done,
            first_tick=self.first_tick,
            last_tick=last_tick,
            trades=self.trades,
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
            final_balance=self.balance,
            stop_reason=self.stop_reason,
            stopped_at=self.stopped_at,
            daily_stops=self.daily_stops,
            skips=self.skips,
            decisions=self.directions,
            equity_curve=downsample(tally.curve, EQUITY_POINTS),
            daily=self.daily,
        )


def run(
    spec: BacktestSpec,
    ticks: Iterable[tuple[datetime, Decimal]],
    *,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
    on_trade: Callable[[SimTrade], None] | None = None,
    block: int = BLOCK,
) -> BacktestReport:
    """Backtest `spec` over `ticks` (time-aware datetimes, oldest first).

    `on_trade(trade)` is called for each contract as it settles (the caller
    keeps what it wants of them: the report itself holds only totals).

    `progress(done, total)` is called about every 1% of `total` (every
    PROGRESS_EVERY ticks when `total` is None) and once at the end, when
    `done == total`.

    The ticks are read `block` at a time. Every decision of a block is
    computed at once (series.py: the same decisions as `run_per_tick`'s
    streams give, and so as the live worker's windows); the ticks are then
    visited one by one only while a contract is open or the run is stopping,
    and otherwise only where the decision says RISE or FALL. Nothing else
    happens between: the day's rollover is applied at the next tick visited,
    which leaves the same risk state.
    """
    from .series import DIRECTIONS, DecisionSeries, RegimeSeries

    if block < 1:
        raise ValueError(f"the block must hold at least one tick, not {block}")
    sim = _Run(spec, progress, total, on_trade)
    decisions = DecisionSeries(spec.decision)
    regimes = RegimeSeries() if spec.blocked_regimes else None
    counts = [0, 0, 0]  # decisions per direction: NONE, RISE, FALL (code 0, 1 and -1)
    source = iter(ticks)
    start_index = 0
    ended = False
    while not ended:
        chunk = list(islice(source, block))
        if not chunk:
            break
        moments = [moment for moment, _ in chunk]
        prices = [price for _, price in chunk]
        values = np.array([float(price) for price in prices])
        directions = decisions.feed(values)
        trading = np.flatnonzero(directions).tolist()
        kinds: dict[int, str] = {}
        if regimes is not None:
            regimes.feed(values)
            kinds = regimes.kinds(trading)
        # Ticks whose decision counts: up to the stop that ends the run, that tick included.
        decided = 0 if sim.stop_reason is not None else len(chunk)
        upcoming = iter(trading)
        j, length = 0, len(chunk)
        while j < length:
            if sim.state is not None and not sim.open_contracts and sim.stop_reason is None:
                # Nothing is open: the next tick that matters is the next RISE or FALL.
                j = next((k for k in upcoming if k >= j), length)
                if j == length:
                    break
            index = start_index + j
            sim.tick(index, moments[j], prices[j])
            if sim.stop_reason is not None:
                if not sim.open_contracts:
                    ended = True
                    break
                j += 1
                continue
            code = int(directions[j])
            if code and sim.trade(index, moments[j], DIRECTIONS[code], lambda j=j, kinds=kinds: kinds[j]):
                ended = True
            if sim.stop_reason is not None:
                decided = j + 1
            if ended:
                break
            j += 1
        for code, count in zip(*np.unique(directions[:decided], return_counts=True), strict=True):
            counts[int(code)] += int(count)
        if not ended:
            sim.last_tick = moments[-1]
            sim.reach(start_index + length)
        start_index += length
    sim.directions = {
        Direction.RISE.value: counts[RISE_CODE],
        Direction.FALL.value: counts[FALL_CODE],
        Direction.NONE.value: counts[0],
    }
    return sim.finish()


def run_per_tick(
    spec: BacktestSpec,
    ticks: Iterable[tuple[datetime, Decimal]],
    *,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
    on_trade: Callable[[SimTrade], None] | None = None,
) -> BacktestReport:
    """`run` one tick at a time through the strategies' and the regime's talipp streams (the live code).

    The same report as `run`, many times slower: kept as its reference, for
    the tests that compare the two and for the benchmark.
    """
    sim = _Run(spec, progress, total, on_trade)
    decisions = spec.decision.stream()
    regimes = RegimeStream()
    for index, (moment, price) in enumerate(ticks):
        sim.tick(index, moment, price)
        if sim.stop_reason is not None:
            # Stopped for good: only the open contracts are left to settle.
            if not sim.open_contracts:
                break
            continue
        value = float(price)
        regimes.add(value)
        direction = decisions.add(value).direction
        sim.directions[direction] += 1
        if direction != Direction.NONE and sim.trade(index, moment, direction, lambda: regimes.regime().kind):
            break
    return sim.finish()


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
