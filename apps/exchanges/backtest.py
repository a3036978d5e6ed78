"""A spot bot's backtest on recorded candles: the live cycle's decision and `engine.plan`, fills with fee and slippage.

The decision at each closed candle comes from the same strategy streams and
consensus as the live cycle (a `DecisionStream` fed the closes), the regime
from the same `RegimeStream`; `engine.plan` turns them into orders exactly as
the live bot does. A buy fills at the close plus the slippage and pays the
taker fee in the base asset; a sell fills at the close less the slippage and
pays it in the quote, as the paper exchange fills them.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from apps.bots.engine.config import DecisionConfig
from apps.bots.engine.regime import RegimeStream

from . import engine
from .venues import quantize_down

PLACES = Decimal("0.00000001")
CENTS = Decimal("0.01")
# The most candles one backtest reads: a week of 1m candles.
MAX_CANDLES = 10_080


@dataclass
class BacktestTrade:
    opened_at: datetime
    closed_at: datetime | None
    entry: Decimal  # the cost basis per unit held, as the live position's stop-loss and take-profit read it
    exit: Decimal | None
    amount: Decimal
    cost: Decimal
    proceeds: Decimal = Decimal("0")
    fees: Decimal = Decimal("0")
    why_open: str = ""
    why_close: str = ""
    last_entry: Decimal = Decimal("0")
    adds: int = 0

    @property
    def pnl(self) -> Decimal:
        return (self.proceeds - self.cost).quantize(CENTS)


@dataclass
class BacktestReport:
    candles: int
    starting_equity: Decimal
    final_equity: Decimal = Decimal("0")
    fees: Decimal = Decimal("0")
    max_drawdown_pct: Decimal = Decimal("0")
    trades: list[BacktestTrade] = field(default_factory=list)
    halted: str = ""

    @property
    def closed(self) -> list[BacktestTrade]:
        return [t for t in self.trades if t.closed_at is not None]

    @property
    def win_rate_pct(self) -> Decimal | None:
        closed = self.closed
        if not closed:
            return None
        return (Decimal(sum(1 for t in closed if t.pnl > 0)) * 100 / len(closed)).quantize(CENTS)

    @property
    def return_pct(self) -> Decimal:
        return ((self.final_equity / self.starting_equity - 1) * 100).quantize(CENTS)


def spot_backtest(
    *,
    candles: list[tuple[datetime, Decimal]],
    config: DecisionConfig,
    risk: engine.SpotRisk,
    starting_quote: Decimal,
    amount_step: Decimal,
    min_notional: Decimal,
    fee_rate: Decimal,
    slippage_pct: Decimal,
    quote: str = "USDT",
) -> BacktestReport:
    """Run the bot over `candles` ((open time, close), oldest first) from `starting_quote` of cash."""
    decisions, regimes = config.stream(), RegimeStream()
    report = BacktestReport(candles=len(candles), starting_equity=starting_quote)
    cash, base = starting_quote, Decimal("0")
    open_trades: dict[int, BacktestTrade] = {}
    peak, day, trades_today, next_id = starting_quote, None, 0, 1
    slip = slippage_pct / 100
    for at, price in candles:
        decision = decisions.add(float(price))
        regimes.add(float(price))
        if at.date() != day:
            day, trades_today = at.date(), 0
        equity = cash + base * price
        peak = max(peak, equity)
        report.max_drawdown_pct = max(report.max_drawdown_pct, ((1 - equity / peak) * 100).quantize(CENTS))
        held = [
            engine.Held(
                i,
                t.amount,
                t.last_entry,
                t.entry * (1 - risk.stop_loss_pct / 100),
                t.entry * (1 + risk.take_profit_pct / 100),
                t.adds,
            )
            for i, t in open_trades.items()
        ]
        step = engine.plan(
            risk=risk,
            price=price,
            decision=decision,
            regime=regimes.regime(),
            held=held,
            equity=equity,
            peak_equity=peak,
            trades_today=trades_today,
            quote=quote,
        )
        for action in step.actions:
            if action.purpose in ("OPEN", "ADD"):
                fill = price * (1 + slip)
                amount = quantize_down(action.quote / fill, amount_step)
                cost = (amount * fill).quantize(PLACES, rounding=ROUND_DOWN)
                if amount <= 0 or cost < min_notional or cost > cash:
                    continue
                fee = (amount * fee_rate).quantize(PLACES, rounding=ROUND_DOWN)
                cash -= cost
                base += amount - fee
                trades_today += 1
                if action.purpose == "ADD":
                    trade = open_trades[action.position_id]
                    trade.amount += amount - fee
                    trade.cost += cost
                    trade.fees += fee * fill
                    trade.entry, trade.last_entry, trade.adds = trade.cost / trade.amount, fill, trade.adds + 1
                    continue
                held_amount = amount - fee
                trade = BacktestTrade(at, None, cost / held_amount, None, held_amount, cost, fees=fee * fill)
                trade.why_open = action.why
                trade.last_entry = fill
                open_trades[next_id] = trade
                report.trades.append(trade)
                next_id += 1
            elif action.position_id in open_trades:
                trade = open_trades.pop(action.position_id)
                fill = price * (1 - slip)
                gross = (trade.amount * fill).quantize(PLACES, rounding=ROUND_DOWN)
                fee = (gross * fee_rate).quantize(PLACES, rounding=ROUND_DOWN)
                cash += gross - fee
                base -= trade.amount
                trade.closed_at, trade.exit, trade.proceeds = at, fill, gross - fee
                trade.fees += fee
                trade.why_close = action.why
                trades_today += 1
        if step.halt:
            report.halted = step.halt
            break
    last = candles[-1][1] if candles else Decimal("0")
    report.final_equity = (cash + base * last).quantize(CENTS)
    report.fees = sum((t.fees for t in report.trades), Decimal("0")).quantize(CENTS)
    return report
