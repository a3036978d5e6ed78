"""What a spot bot does on a closed candle, as a pure function: the live cycle and the backtest both call `plan`.

Spot bots only buy and sell what they hold (no shorting): a RISE consensus may
open a position (or add to a winner, with pyramiding), a FALL consensus
closes what is open, and each position's stop-loss and take-profit close it
on the candle that crosses them. New positions are sized as a share of the
connection's equity; the day's trade count, the open positions, the kill
switches and the drawdown from the peak can each stop them, with a reason.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from apps.bots.engine.consensus import Decision
from apps.bots.engine.regime import Regime
from apps.bots.engine.votes import Direction

POSITION_PCT_RANGE = (Decimal("2"), Decimal("10"))


@dataclass(frozen=True)
class SpotRisk:
    position_pct: Decimal = Decimal("5")
    max_open_positions: int = 1
    stop_loss_pct: Decimal = Decimal("2")
    take_profit_pct: Decimal = Decimal("4")
    pyramiding: bool = False
    max_adds: int = 2
    add_spacing_pct: Decimal = Decimal("1")
    max_trades_per_day: int = 50
    max_drawdown_pct: Decimal = Decimal("20")
    blocked_regimes: tuple[str, ...] = ()

    @classmethod
    def of(cls, bot) -> "SpotRisk":
        return cls(
            **{name: getattr(bot, name) for name in cls.__dataclass_fields__ if name != "blocked_regimes"},
            blocked_regimes=tuple(bot.blocked_regimes or ()),
        )

    def as_dict(self) -> dict:
        return {name: str(getattr(self, name)) for name in ("position_pct", "stop_loss_pct", "take_profit_pct")}


@dataclass(frozen=True)
class Held:
    """An open position as the plan sees it."""

    id: int
    amount: Decimal
    last_entry_price: Decimal
    stop_price: Decimal | None
    take_price: Decimal | None
    adds: int


@dataclass(frozen=True)
class Action:
    purpose: str  # OPEN, ADD, STOP_LOSS, TAKE_PROFIT, SIGNAL (SpotOrder.Purpose values)
    why: str
    position_id: int | None = None
    quote: Decimal = Decimal("0")  # what a buy spends


@dataclass(frozen=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    # Why no new position was opened on this candle ("" when one was, or nothing was wanted).
    skip: str = ""
    # Set when the drawdown stops the bot.
    halt: str = ""


def plan(
    *,
    risk: SpotRisk,
    price: Decimal,
    decision: Decision,
    regime: Regime,
    held: list[Held],
    equity: Decimal,
    peak_equity: Decimal | None,
    trades_today: int,
    stopped_by: str = "",
    quote: str = "USDT",
) -> Plan:
    actions: list[Action] = []
    for position in held:
        if position.stop_price is not None and price <= position.stop_price:
            actions.append(
                Action("STOP_LOSS", f"The price {price} reached the stop-loss at {position.stop_price}.", position.id)
            )
        elif position.take_price is not None and price >= position.take_price:
            actions.append(
                Action(
                    "TAKE_PROFIT", f"The price {price} reached the take-profit at {position.take_price}.", position.id
                )
            )
        elif decision.direction == Direction.FALL:
            actions.append(Action("SIGNAL", f"The consensus turned to FALL: {decision.reason}.", position.id))
    closing = {a.position_id for a in actions}
    staying = [p for p in held if p.id not in closing]

    if peak_equity and equity <= peak_equity * (1 - risk.max_drawdown_pct / 100):
        drop = (1 - equity / peak_equity) * 100
        return Plan(
            actions,
            halt=f"Equity {equity:.2f} {quote} is {drop:.1f}% below its peak "
            f"{peak_equity:.2f} {quote} (the limit is {risk.max_drawdown_pct}%).",
        )
    if stopped_by:
        return Plan(actions, skip=stopped_by)
    if decision.direction != Direction.RISE:
        return Plan(actions, skip=f"No entry: {decision.reason}.")
    if regime.kind in risk.blocked_regimes:
        return Plan(actions, skip=f"The market is {regime.kind.lower()}, a regime this bot skips.")
    if trades_today + len(actions) >= risk.max_trades_per_day:
        return Plan(actions, skip=f"{risk.max_trades_per_day} trades today: the bot's daily limit is reached.")
    quote_amount = (equity * risk.position_pct / 100).quantize(Decimal("0.00000001"))
    if risk.pyramiding:
        for position in staying:
            trigger = position.last_entry_price * (1 + risk.add_spacing_pct / 100)
            if position.adds < risk.max_adds and price >= trigger:
                why = (
                    f"Adding to a winner: {price} is at least {risk.add_spacing_pct}% above the last entry "
                    f"{position.last_entry_price} (add {position.adds + 1} of {risk.max_adds})."
                )
                return Plan([*actions, Action("ADD", why, position.id, quote_amount)])
    if len(staying) >= risk.max_open_positions:
        return Plan(actions, skip=f"Already holding {len(staying)} of {risk.max_open_positions} positions.")
    why = f"{decision.reason}; buying {risk.position_pct}% of equity ({quote_amount:.2f} {quote})."
    return Plan([*actions, Action("OPEN", why, None, quote_amount)])


def explain(*, decision: Decision, regime: Regime, price: Decimal, candle_at, risk: SpotRisk, why: str) -> dict:
    """What an order or position shows as its explanation: the votes, the consensus, the regime and the rule."""
    return {
        "why": why,
        "price": str(price),
        "candle": candle_at.isoformat(),
        "decision": {
            "direction": str(decision.direction),
            "confidence": decision.confidence,
            "reason": decision.reason,
        },
        "votes": [
            {"strategy": v.strategy, "direction": str(v.direction), "confidence": v.confidence, "reason": v.reason}
            for v in decision.votes
        ],
        "regime": {"kind": str(regime.kind), "confidence": regime.confidence, "reason": regime.reason},
        "risk": risk.as_dict(),
    }
