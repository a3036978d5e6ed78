from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.ledger.models import Transfer
from apps.markets.models import Market, Tick, TieRule

from .models import HELD, Contract, Direction, DurationUnit, Status
from .signals import account_refusals_requested


def contracts_for(*, account: TradingAccount) -> QuerySet[Contract]:
    return Contract.objects.filter(account=account).select_related("market")


def with_source(contracts: QuerySet[Contract]) -> QuerySet[Contract]:
    """Each contract with `bot_name`: the bot that bought it, None when the trader bought it by hand.

    Bots record each contract they buy as a BotTrade (`bot_trade` on the
    contract): read through that relation, trading needs no import of bots.
    """
    return contracts.annotate(bot_name=F("bot_trade__bot__name"))


def contract_for_user(*, user, pk: int) -> Contract:
    """The user's own contract (with `bot_name`, see with_source), or 404."""
    return get_object_or_404(with_source(Contract.objects.select_related("market", "account")), pk=pk, user=user)


# A contract's chart shows this many ticks before its purchase, and at most
# this many points in all (a long minute contract's ticks are thinned, its
# entry and exit always kept).
CONTRACT_CHART_BEFORE = 5
CONTRACT_CHART_POINTS = 1500


def contract_chart(*, contract: Contract) -> dict:
    """The stored ticks around a contract, from just before its purchase to its exit (or now), with entry and exit.

    Entry and exit are the contract's own (settled) or, while it is open,
    the tick after the purchase and nothing yet. Times are epoch milliseconds.
    """
    market = contract.market
    ticks = Tick.objects.filter(market=market, seq__gte=contract.purchase_seq - CONTRACT_CHART_BEFORE)
    if contract.exit_seq is not None:
        ticks = ticks.filter(seq__lte=contract.exit_seq + 1)
    elif end := contract.exit_time or contract.expires_at:
        ticks = ticks.filter(time__lte=end + timedelta(seconds=1))
    rows = list(ticks.order_by("seq").values_list("seq", "time", "price")[: CONTRACT_CHART_POINTS * 20])
    entry = exit = None
    if contract.entry_spot is not None and contract.entry_time is not None:
        entry = {"ms": _ms(contract.entry_time), "price": market.format_price(contract.entry_spot)}
    else:
        entry = next(
            ({"ms": _ms(t), "price": market.format_price(p)} for seq, t, p in rows if seq == contract.purchase_seq + 1),
            None,
        )
    if contract.exit_spot is not None and contract.exit_time is not None:
        exit = {"ms": _ms(contract.exit_time), "price": market.format_price(contract.exit_spot)}
    kept = {_ms(t) for t in (contract.entry_time, contract.exit_time) if t}
    step = max(len(rows) // CONTRACT_CHART_POINTS, 1)
    points = [
        [_ms(t), market.format_price(p)]
        for i, (seq, t, p) in enumerate(rows)
        if i % step == 0 or i == len(rows) - 1 or _ms(t) in kept or seq == contract.purchase_seq + 1
    ]
    return {"decimals": market.decimals, "direction": contract.direction, "ticks": points, "entry": entry, "exit": exit}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def contract_timeline(*, contract: Contract) -> list[dict]:
    """Bought, entry, exit, settled: each with its time (None while still to come)."""
    market = contract.market
    entry_time = contract.entry_time
    entry_spot = contract.entry_spot
    if entry_time is None and not contract.at_deriv:
        tick = Tick.objects.filter(market=market, seq=contract.purchase_seq + 1).values_list("time", "price").first()
        if tick:
            entry_time, entry_spot = tick
    return [
        {"step": "Bought", "at": contract.purchased_at, "detail": f"after tick #{contract.purchase_seq}"},
        {
            "step": "Entry",
            "at": entry_time,
            "detail": market.format_price(entry_spot) if entry_spot is not None else "",
        },
        {
            "step": "Exit",
            "at": contract.exit_time,
            "detail": market.format_price(contract.exit_spot) if contract.exit_spot is not None else "",
        },
        {
            "step": "Settled",
            "at": contract.settled_at,
            "detail": contract.get_status_display() if contract.settled_at else "",
        },
    ]


def contract_transfers(*, contract: Contract) -> list[Transfer]:
    """The ledger transfers of a contract (its stake, and what settlement paid back or kept), oldest first."""
    return list(
        Transfer.objects.filter(reference=f"contract:{contract.pk}")
        .select_related("debit", "credit")
        .order_by("created_at", "id")
    )


# The trade page lists at most this many open positions (the oldest first) and
# counts the rest: a page, or a pushed fragment, with thousands of rows helps
# nobody and costs every push.
POSITIONS_SHOWN = 100


def open_positions(
    *, account: TradingAccount, limit: int = POSITIONS_SHOWN, market: Market | None = None
) -> list[Contract]:
    """The oldest `limit` open contracts (on `market` only, if given), with what is left: ticks, or seconds to expiry.

    Deriv contracts are listed from the moment they are sent (PENDING) and
    show the entry spot Deriv reported; the ticks left count our copy of
    Deriv's ticks.
    """
    now = timezone.now()
    # Entry spots known before settlement: the tick after each purchase, read
    # by the same query (one indexed lookup per row; a condition per contract
    # grows past what SQLite parses beyond about a thousand of them).
    entry_tick = Tick.objects.filter(market_id=OuterRef("market_id"), seq=OuterRef("purchase_seq") + 1).order_by()
    held = contracts_for(account=account).filter(status__in=HELD)
    if market is not None:
        held = held.filter(market=market)
    positions = list(
        with_source(held)
        .annotate(entry_tick_price=Subquery(entry_tick.values("price")[:1]))
        .order_by("purchased_at", "id")[:limit]
    )
    for contract in positions:
        if not contract.at_deriv:
            contract.entry_spot = contract.entry_tick_price
        if contract.duration_unit == DurationUnit.TICKS:
            contract.ticks_left = max(contract.exit_seq - contract.market.last_seq, 0)
            contract.progress_max = contract.duration
            done = contract.market.last_seq - (contract.purchase_seq + 1)
            contract.progress_done = min(max(done, 0), contract.duration)
        else:
            contract.seconds_left = max(int((contract.expires_at - now).total_seconds()), 0)
            contract.progress_max = contract.duration * 60
            contract.progress_done = contract.progress_max - min(contract.seconds_left, contract.progress_max)
        contract.state_now, contract.pnl_now = position_now(contract, contract.market.last_price)
    return positions


def position_now(contract: Contract, price: Decimal | None) -> tuple[str | None, Decimal | None]:
    """How an open contract stands if it settled at `price` now ("winning", "losing" or "tie"), and its profit then.

    A win brings the payout less the stake, a loss costs the stake; a tie
    follows the contract's tie rule. (None, None) before the entry spot is
    known. static/js/positions.js says the same on every tick.
    """
    if contract.entry_spot is None or price is None:
        return None, None
    if price == contract.entry_spot:
        return "tie", Decimal("0.00") if contract.tie_rule == TieRule.REFUND else -contract.stake
    rises = price > contract.entry_spot
    if rises == (contract.direction == Direction.RISE):
        return "winning", contract.payout - contract.stake
    return "losing", -contract.stake


def history(
    *,
    account: TradingAccount,
    market_id: int | None = None,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Contract]:
    contracts = contracts_for(account=account)
    if market_id:
        contracts = contracts.filter(market_id=market_id)
    if status:
        contracts = contracts.filter(status=status)
    tz = timezone.get_current_timezone()
    if date_from:
        contracts = contracts.filter(purchased_at__gte=datetime.combine(date_from, time.min, tzinfo=tz))
    if date_to:
        contracts = contracts.filter(
            purchased_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=tz)
        )
    return contracts.order_by("-purchased_at", "-id")


@dataclass(frozen=True)
class Stats:
    trades: int
    open: int
    wins: int
    losses: int
    ties: int
    staked: Decimal
    paid: Decimal
    # Commission and partner markup taken from wins: `paid` is already net of them.
    fees: Decimal = Decimal("0.00")

    @property
    def settled(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def win_rate(self) -> Decimal | None:
        """Wins over decided contracts (ties and voids are neither)."""
        decided = self.wins + self.losses
        return (Decimal(self.wins) * 100 / decided).quantize(Decimal("0.1")) if decided else None

    @property
    def net(self) -> Decimal:
        return self.paid - self.staked


def stats(contracts: QuerySet[Contract]) -> Stats:
    """Trades, outcomes and net profit of settled contracts, in one query."""
    # Orders Deriv refused were never trades.
    settled = Q(status__in=[Status.WON, Status.LOST, Status.TIE, Status.VOID])
    row = contracts.aggregate(
        trades=Count("id", filter=~Q(status=Status.REFUSED)),
        open=Count("id", filter=Q(status__in=HELD)),
        wins=Count("id", filter=Q(status=Status.WON)),
        losses=Count("id", filter=Q(status=Status.LOST)),
        ties=Count("id", filter=Q(status__in=[Status.TIE, Status.VOID])),
        staked=Sum("stake", filter=settled),
        paid=Sum("amount_paid", filter=settled),
        fees=Sum(F("commission") + F("markup"), filter=Q(status=Status.WON)),
    )
    cent = Decimal("0.01")
    return Stats(
        trades=row["trades"],
        open=row["open"],
        wins=row["wins"],
        losses=row["losses"],
        ties=row["ties"],
        staked=Decimal(row["staked"] or 0).quantize(cent),
        paid=Decimal(row["paid"] or 0).quantize(cent),
        fees=Decimal(row["fees"] or 0).quantize(cent),
    )


def chart_open_contracts(*, account: TradingAccount, market: Market) -> list[dict]:
    """The account's open contracts on a market, for the chart's lines: entry spot (None before its tick) and expiry.

    `expires` (epoch seconds) for minute contracts, `exit_seq` (the exit
    tick's number) for tick contracts.
    """
    return [
        {
            "id": c.pk,
            "direction": c.direction,
            "entry": None if c.entry_spot is None else market.format_price(c.entry_spot),
            "entry_seq": c.purchase_seq + 1,
            "expires": int(c.expires_at.timestamp()) if c.expires_at else None,
            "exit_seq": c.exit_seq,
        }
        for c in open_positions(account=account, market=market)
    ]


def chart_markers(*, account: TradingAccount, market, limit: int = 200) -> list[dict]:
    """Entry (at purchase) and exit (at the exit tick) of the account's latest contracts on a market."""
    markers = []
    for c in contracts_for(account=account).filter(market=market).order_by("-purchased_at")[:limit]:
        markers.append({"time": int(c.purchased_at.timestamp()), "kind": "entry", "direction": c.direction, "id": c.pk})
        if c.exit_time:
            markers.append({"time": int(c.exit_time.timestamp()), "kind": "exit", "status": c.status, "id": c.pk})
    return sorted(markers, key=lambda m: m["time"])


# A minute contract whose market sent no tick after expiry settles on the last
# tick at or before expiry once this grace has passed (prices stopped or the
# market closed); a tick contract that never saw its exit tick is void and
# refunded after the longer wait.
EXPIRY_GRACE = timedelta(seconds=60)
TICK_CONTRACT_VOID_AFTER = timedelta(minutes=10)


def contracts_due(*, market_ids: list[int] | None, now: datetime | None = None) -> QuerySet[Contract]:
    """Open contracts whose exit is known (the Nth tick, or a tick after expiry), or that waited too long."""
    now = now or timezone.now()
    # Deriv contracts settle from Deriv's own result (apps.trading.services.venue), never from our ticks.
    due = Contract.objects.filter(status=Status.OPEN, at_deriv=False).filter(
        Q(duration_unit=DurationUnit.TICKS, market__last_seq__gte=F("purchase_seq") + 1 + F("duration"))
        | Q(duration_unit=DurationUnit.MINUTES, market__last_tick_at__gt=F("expires_at"))
        | Q(duration_unit=DurationUnit.MINUTES, expires_at__lt=now - EXPIRY_GRACE)
        | Q(duration_unit=DurationUnit.TICKS, purchased_at__lt=now - TICK_CONTRACT_VOID_AFTER)
    )
    if market_ids is not None:
        due = due.filter(market_id__in=market_ids)
    return due


def account_refusals(*, account_ids: Iterable[int]) -> dict[int, str]:
    """Why each of these trading accounts cannot trade now, as the apps that connect them to a venue answer.

    `send`, not `send_robust`: an answer that cannot be had must stop the
    purchase rather than let a disconnected account trade.
    """
    refusals: dict[int, str] = {}
    for _receiver, answer in account_refusals_requested.send(sender=TradingAccount, account_ids=set(account_ids)):
        refusals |= answer or {}
    return refusals


def markets_to_tell_paused() -> list[Market]:
    """Active markets with open contracts whose prices stopped, and whose traders were not told since."""
    markets = Market.objects.filter(is_active=True, contracts__status=Status.OPEN).distinct()
    return [
        market
        for market in markets
        if not market.is_fresh
        and (
            market.paused_notice_at is None
            or (market.last_tick_at is not None and market.paused_notice_at <= market.last_tick_at)
        )
    ]


def open_contract_user_ids(*, market: Market) -> set[int]:
    """The traders holding OPEN contracts on `market`."""
    return set(Contract.objects.filter(market=market, status=Status.OPEN).values_list("user_id", flat=True))


@dataclass(frozen=True)
class VenueOverdue:
    contract_id: int
    venue_contract_id: int | None
    account_id: int
    expected_end: datetime


def venue_expected_end(
    *, duration: int, unit: str, expires_at: datetime | None, sent_at: datetime, tick_interval_ms: int
) -> datetime:
    """When a contract bought at Deriv should have ended, on our own clock (never Deriv's, which may differ).

    Minute contracts: their expiry. Tick contracts have none, so the bound is the
    time the order went out plus (duration + 2) ticks at the market's interval:
    the entry is the tick after the purchase, and one more tick covers Deriv's
    own latency. Synthetic indices tick every 1 or 2 s, so a 5-tick contract on
    R_10 (2 s) is due 14 s after it was sent.
    """
    if unit == DurationUnit.MINUTES:
        return expires_at or sent_at + timedelta(minutes=duration)
    return sent_at + timedelta(milliseconds=tick_interval_ms * (duration + 2))


def venue_contracts_overdue(
    *, past_end: timedelta, account_id: int | None = None, now: datetime | None = None
) -> list[VenueOverdue]:
    """OPEN contracts at Deriv still open `past_end` after their expected end (see venue_expected_end)."""
    now = now or timezone.now()
    rows = Contract.objects.filter(status=Status.OPEN, at_deriv=True)
    if account_id is not None:
        rows = rows.filter(account_id=account_id)
    overdue = []
    fields = (
        "pk",
        "deriv_contract_id",
        "account_id",
        "duration",
        "duration_unit",
        "expires_at",
        "deriv_sent_at",
        "purchased_at",
        "market__tick_interval_ms",
    )
    for pk, venue_id, account, duration, unit, expires_at, sent_at, purchased_at, interval in rows.values_list(
        *fields
    ).order_by("pk"):
        end = venue_expected_end(
            duration=duration,
            unit=unit,
            expires_at=expires_at,
            sent_at=sent_at or purchased_at,
            tick_interval_ms=interval,
        )
        if end + past_end < now:
            overdue.append(VenueOverdue(pk, venue_id, account, end))
    return overdue
