"""Reads for the trader's dashboard: every figure aggregated by the database, a fixed number of queries per page.

Days are the current time zone's (the trader's own, activated per request):
"today" starts at local midnight, and the daily bars and the equity curve
group by local date. Net P&L is what settlement paid back (`amount_paid`,
already net of commission and markup) less the stake, over settled
contracts (won, lost, tie, void; orders Deriv refused were never trades).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.bots.models import Bot, BotStatus
from apps.deriv.models import Connection, DerivLink
from apps.ledger.models import Entry
from apps.markets.models import Candle, Market, Source, Timeframe
from apps.ops.selectors import feed_heartbeat_problem, feed_sources, worker_clusters, worker_heartbeat_problem
from apps.trading.models import HELD, Contract, Status
from apps.trading.selectors import contracts_for, with_source

CENT = Decimal("0.01")
SETTLED = (Status.WON, Status.LOST, Status.TIE, Status.VOID)
NET = ExpressionWrapper(F("amount_paid") - F("stake"), output_field=DecimalField(max_digits=20, decimal_places=2))

# The chart's ranges: the key in the URL (`?range=`), its label, and its days (None: since the account opened).
RANGES = {"7d": ("7 days", 7), "30d": ("30 days", 30), "90d": ("90 days", 90), "all": ("All", None)}
DEFAULT_RANGE = "30d"
RECENT_SHOWN = 10
MARKETS_SHOWN = 20


def _cents(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the current time zone, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def local_date(field: str, first: date, last: date):
    """The local date of `field` for rows between the starts of local days `first` and `last` + 1, computed in SQL.

    PostgreSQL converts natively (TruncDate: AT TIME ZONE). On SQLite Django's
    TruncDate calls Python once per row, which dominates an aggregate over
    thousands of rows; there each run of whole 24-hour days at one UTC offset
    shifts natively (`date(field, '+N seconds')`), and the days a clock change
    makes longer or shorter are matched by their bounds. Same dates either way.
    """
    if connection.vendor != "sqlite":
        return TruncDate(field, tzinfo=timezone.get_current_timezone())
    whens, run_offset, day = [], None, first
    while day <= last:
        start, end = local_day_start(day), local_day_start(day + timedelta(days=1))
        offset = int(start.utcoffset().total_seconds())
        if end - start != timedelta(days=1) or int(end.utcoffset().total_seconds()) != offset:
            if run_offset is not None:
                whens.append(When(**{f"{field}__lt": start}, then=_shifted(field, run_offset)))
            whens.append(When(**{f"{field}__lt": end}, then=Value(day, output_field=DateField())))
            run_offset = None
        elif offset != run_offset:
            if run_offset is not None:
                whens.append(When(**{f"{field}__lt": start}, then=_shifted(field, run_offset)))
            run_offset = offset
        day += timedelta(days=1)
    if run_offset is None:
        run_offset = int(local_day_start(last + timedelta(days=1)).utcoffset().total_seconds())
    if not whens:
        return _shifted(field, run_offset)
    return Case(*whens, default=_shifted(field, run_offset), output_field=DateField())


def _shifted(field: str, offset: int):
    return Func(F(field), Value(f"{offset:+d} seconds"), function="date", output_field=DateField())


def range_key(value: str | None) -> str:
    """The range asked for, or the default one for anything unknown."""
    return value if value in RANGES else DEFAULT_RANGE


def range_start(*, account: TradingAccount, key: str, today: date) -> date:
    """The first local day a range shows: `days` days up to and including today, or the day the account opened."""
    days = RANGES[key][1]
    if days is None:
        return min(timezone.localdate(account.created_at), today)
    return today - timedelta(days=days - 1)


# --- Cards ------------------------------------------------------------------


@dataclass(frozen=True)
class Cards:
    balance: Decimal
    currency: str
    today_net: Decimal
    month_net: Decimal
    month_trades: int
    wins: int
    losses: int
    open: int
    bots_running: int

    @property
    def win_rate(self) -> Decimal | None:
        """Wins over decided contracts of the last 30 days (ties and voids are neither)."""
        decided = self.wins + self.losses
        return (Decimal(self.wins) * 100 / decided).quantize(Decimal("0.1")) if decided else None


def cards(*, account: TradingAccount) -> Cards:
    """Balance, today's and the last 30 days' net P&L and win rate, open contracts, running bots: three queries.

    Each reads only the rows it counts (from an index: those settled in the
    last 30 days, the open ones), whatever the account's history.
    """
    today = timezone.localdate()
    day_start = local_day_start(today)
    month_start = local_day_start(today - timedelta(days=29))
    settled_month = Q(status__in=SETTLED, settled_at__gte=month_start)
    row = Contract.objects.filter(settled_month, account=account).aggregate(
        today_net=Sum(NET, filter=Q(settled_at__gte=day_start)),
        month_net=Sum(NET),
        month_trades=Count("id"),
        wins=Count("id", filter=Q(status=Status.WON)),
        losses=Count("id", filter=Q(status=Status.LOST)),
    )
    return Cards(
        balance=account.balance,
        currency=account.currency,
        today_net=_cents(row["today_net"]),
        month_net=_cents(row["month_net"]),
        month_trades=row["month_trades"],
        wins=row["wins"],
        losses=row["losses"],
        open=Contract.objects.filter(account=account, status__in=HELD).count(),
        bots_running=Bot.objects.filter(account=account, status=BotStatus.RUNNING).count(),
    )


def recent_trades(*, account: TradingAccount, limit: int = RECENT_SHOWN) -> QuerySet[Contract]:
    """The latest settled contracts, newest first, each with its source (`bot_name`)."""
    return with_source(contracts_for(account=account).filter(status__in=SETTLED)).order_by("-settled_at", "-id")[:limit]


# --- Charts -----------------------------------------------------------------


def daily_pnl(*, account: TradingAccount, start: date, today: date) -> list[dict]:
    """Net P&L and trades per local day from `start` to `today`, days without trades included (as zero)."""
    rows = (
        Contract.objects.filter(account=account, status__in=SETTLED, settled_at__gte=local_day_start(start))
        .annotate(day=local_date("settled_at", start, today))
        .values("day")
        .annotate(net=Sum(NET), trades=Count("id"))
        .order_by()
    )
    by_day = {row["day"]: (_cents(row["net"]), row["trades"]) for row in rows}
    days = (start + timedelta(days=i) for i in range((today - start).days + 1))
    return [
        {"day": day, "net": by_day.get(day, (Decimal("0.00"), 0))[0], "trades": by_day.get(day, (0, 0))[1]}
        for day in days
    ]


def equity_curve(*, account: TradingAccount, start: date, today: date) -> list[dict]:
    """The account's balance at the end of each local day from `start` to `today`, read back from its ledger.

    Today's point is the balance now; each earlier day's is it less every
    movement booked after that day (stakes, payouts, top-ups, resets): one
    grouped query over the range's entries, whatever happened before it.
    """
    rows = (
        Entry.objects.filter(account_id=account.ledger_account_id, created_at__gte=local_day_start(start))
        .annotate(day=local_date("created_at", start, today))
        .values("day")
        .annotate(moved=Sum("amount"))
        .order_by()
    )
    moved = {row["day"]: _cents(row["moved"]) for row in rows}
    balance = account.balance
    points = []
    for i in range((today - start).days, -1, -1):
        day = start + timedelta(days=i)
        points.append({"day": day, "balance": balance})
        balance -= moved.get(day, Decimal("0.00"))
    points.reverse()
    return points


def chart_data(*, account: TradingAccount, key: str) -> dict:
    """The equity curve and daily bars of a range, as the page's script reads them (days as YYYY-MM-DD)."""
    today = timezone.localdate()
    start = range_start(account=account, key=key, today=today)
    opened = timezone.localdate(account.created_at)
    return {
        "currency": account.currency,
        # No balance before the account opened: those days are left blank on the curve.
        "equity": [
            {"time": p["day"].isoformat(), "value": str(p["balance"])}
            if p["day"] >= opened
            else {"time": p["day"].isoformat()}
            for p in equity_curve(account=account, start=start, today=today)
        ],
        "daily": [
            {"time": d["day"].isoformat(), "value": str(d["net"]), "trades": d["trades"]}
            for d in daily_pnl(account=account, start=start, today=today)
        ],
    }


@dataclass(frozen=True)
class MarketResult:
    name: str
    symbol: str
    trades: int
    wins: int
    losses: int
    ties: int
    net: Decimal

    @property
    def win_rate(self) -> Decimal | None:
        decided = self.wins + self.losses
        return (Decimal(self.wins) * 100 / decided).quantize(Decimal("0.1")) if decided else None


def results_by_market(*, account: TradingAccount, key: str, limit: int = MARKETS_SHOWN) -> list[MarketResult]:
    """Wins, losses and net P&L per market over the range, the most traded first."""
    start = range_start(account=account, key=key, today=timezone.localdate())
    # Grouped by the market's name (a join), not its id: grouping by `market_id` leads SQLite to walk that
    # column's index over every contract of every account instead of this account's range.
    rows = (
        Contract.objects.filter(account=account, status__in=SETTLED, settled_at__gte=local_day_start(start))
        .values("market__name", "market__symbol")
        .annotate(
            trades=Count("id"),
            wins=Count("id", filter=Q(status=Status.WON)),
            losses=Count("id", filter=Q(status=Status.LOST)),
            ties=Count("id", filter=Q(status__in=[Status.TIE, Status.VOID])),
            net=Sum(NET),
        )
        .order_by("-trades", "market__name")[:limit]
    )
    return [
        MarketResult(
            name=r["market__name"],
            symbol=r["market__symbol"],
            trades=r["trades"],
            wins=r["wins"],
            losses=r["losses"],
            ties=r["ties"],
            net=_cents(r["net"]),
        )
        for r in rows
    ]


# --- Markets and health -----------------------------------------------------

SPARK_WIDTH, SPARK_HEIGHT = 100, 24


@dataclass(frozen=True)
class MarketLine:
    market: Market
    change: Decimal | None  # since the price 24 h ago
    change_percent: Decimal | None
    spark: str  # SVG polyline points, empty without history

    @property
    def is_live(self) -> bool:
        return self.market.is_fresh


def _spark(prices: list[Decimal]) -> str:
    if len(prices) < 2:
        return ""
    low, high = min(prices), max(prices)
    span = (high - low) or Decimal(1)
    step = Decimal(SPARK_WIDTH) / (len(prices) - 1)
    return " ".join(
        f"{float(step * i):.1f},{float((high - p) / span * (SPARK_HEIGHT - 2) + 1):.1f}" for i, p in enumerate(prices)
    )


def market_overview() -> list[MarketLine]:
    """Every active market: its price, its change over 24 hours and a sparkline, from its hourly candles (2 queries)."""
    markets = list(Market.objects.filter(is_active=True))
    since = timezone.now() - timedelta(hours=24)
    hourly: dict[int, list[tuple[Decimal, Decimal]]] = {m.pk: [] for m in markets}
    candles = Candle.objects.filter(market__in=markets, timeframe=Timeframe.H1, start__gte=since).order_by(
        "market_id", "start"
    )
    for market_id, open_, close in candles.values_list("market_id", "open", "close"):
        hourly[market_id].append((open_, close))
    lines = []
    for market in markets:
        candles_of = hourly[market.pk]
        prices = ([candles_of[0][0]] + [close for _, close in candles_of]) if candles_of else []
        if market.last_price is not None:
            prices.append(market.last_price)
        change = percent = None
        if candles_of and market.last_price is not None:
            then = candles_of[0][0]
            change = market.last_price - then
            percent = (change * 100 / then).quantize(Decimal("0.01")) if then else None
        lines.append(MarketLine(market=market, change=change, change_percent=percent, spark=_spark(prices)))
    return lines


@dataclass(frozen=True)
class HealthItem:
    name: str
    ok: bool
    detail: str


def health(*, user, markets: list[MarketLine]) -> list[HealthItem]:
    """Prices live per feed, the worker alive, and this trader's Deriv link: what may stop a trade now."""
    items = []
    for source in feed_sources():
        of_source = [line for line in markets if line.market.source == source]
        live = sum(1 for line in of_source if line.is_live)
        problem = feed_heartbeat_problem(source)
        label = Source(source).label.split(" (")[0]
        if problem:
            items.append(HealthItem(f"{label} prices", False, f"feed silent: {problem}"))
        else:
            items.append(HealthItem(f"{label} prices", live == len(of_source), f"{live} of {len(of_source)} live"))
    problem = worker_heartbeat_problem(cluster=worker_clusters()[0])
    items.append(HealthItem("Worker", problem is None, problem or "alive"))
    if settings.DERIV["ENABLED"]:
        link = DerivLink.objects.filter(user=user).values_list("connection", "reason").first()
        if link is None:
            items.append(HealthItem("Deriv", True, "not linked"))
        else:
            connection, reason = link
            detail = Connection(connection).label.lower()
            if reason and connection != Connection.CONNECTED:
                detail += f": {reason}"
            items.append(HealthItem("Deriv", connection == Connection.CONNECTED, detail))
    return items
