"""Selectors of the staff analytics page: the platform's figures over a range of days, summed by the database.

Every figure is one grouped query (or a handful of small ones for health):
users, contracts and stakes per day and realm, the house's result per realm
(from apps.revenue.reports, which already reads it off the ledger), bots by
status and stop reason, per-market trades, win rate and open exposure, and
the feed's and the worker's health. Days are the current time zone's
(the staff member's own), both ends included. Amounts are never added
across realms or currencies: demo money is never counted with real money.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django_q.models import Failure

from apps.bots.models import Bot, BotStatus
from apps.revenue.reports import Totals, revenue_by_day, totals_of
from apps.trading.models import HELD, Contract, Direction, Status
from apps.users.models import User

from . import selectors

ZERO = Decimal("0.00")


def day_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """The range as aware datetimes in the current time zone: [start of date_from, start of the day after date_to)."""
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(date_from, time.min), tz),
        timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz),
    )


def _money(value) -> Decimal:
    return (value or ZERO).quantize(Decimal("0.01"))


# --- users ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFigures:
    """Users now, and who was active today: signed in today, traded today (bought a contract), or either."""

    total: int
    signed_in_today: int
    traded_today: int
    active_today: int
    new_in_range: int


def user_figures(date_from: date, date_to: date) -> UserFigures:
    """Totals of users and today's activity (today in the current time zone): one query."""
    today_start, today_end = day_bounds(timezone.localdate(), timezone.localdate())
    range_start, range_end = day_bounds(date_from, date_to)
    signed_in = Q(last_login__gte=today_start, last_login__lt=today_end)
    traded = Q(traded=True)
    row = User.objects.annotate(
        traded=Exists(
            Contract.objects.filter(user=OuterRef("pk"), purchased_at__gte=today_start, purchased_at__lt=today_end)
        )
    ).aggregate(
        total=Count("pk"),
        signed_in_today=Count("pk", filter=signed_in),
        traded_today=Count("pk", filter=traded),
        active_today=Count("pk", filter=signed_in | traded),
        new_in_range=Count("pk", filter=Q(date_joined__gte=range_start, date_joined__lt=range_end)),
    )
    return UserFigures(**row)


def new_users_by_day(date_from: date, date_to: date) -> list[tuple[date, int]]:
    """(day, users who joined that day) for the days anyone joined: one query."""
    start, end = day_bounds(date_from, date_to)
    rows = (
        User.objects.filter(date_joined__gte=start, date_joined__lt=end)
        .annotate(day=TruncDate("date_joined"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by("day")
        .values_list("day", "n")
    )
    return list(rows)


# --- contracts and volume ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRow:
    """Contracts bought on a day in one realm and currency, and their stakes (Deriv's refusals left out)."""

    day: date
    realm: str
    currency: str
    contracts: int
    volume: Decimal


def _realm_of_contract():
    return {"realm": F("account__ledger_account__realm"), "currency": F("account__ledger_account__currency")}


def volume_by_day(date_from: date, date_to: date) -> list[VolumeRow]:
    """Contracts and stakes per day, realm (the trading account's ledger realm) and currency: one query.

    Contracts Deriv refused never traded (their stake went straight back), so they are not counted.
    """
    start, end = day_bounds(date_from, date_to)
    rows = (
        Contract.objects.filter(purchased_at__gte=start, purchased_at__lt=end)
        .exclude(status=Status.REFUSED)
        .annotate(day=TruncDate("purchased_at"))
        .values("day", **_realm_of_contract())
        .annotate(contracts=Count("pk"), volume=Sum("stake"))
        .order_by("day", "realm", "currency")
    )
    return [
        VolumeRow(row["day"], row["realm"], row["currency"], row["contracts"], _money(row["volume"])) for row in rows
    ]


@dataclass(frozen=True)
class RealmRow:
    """One realm and currency over the range: contracts, stakes and the house's result."""

    realm: str
    currency: str
    contracts: int
    volume: Decimal
    house_pnl: Decimal


def realm_totals(volume: list[VolumeRow], house: list[Totals]) -> list[RealmRow]:
    """The range's contracts and stakes (adding up the already-summed days) beside the house's result per realm."""
    sums: dict[tuple[str, str], list] = {}
    for row in volume:
        acc = sums.setdefault((row.realm, row.currency), [0, ZERO, ZERO])
        acc[0] += row.contracts
        acc[1] += row.volume
    for row in house:
        sums.setdefault((row.realm, row.currency), [0, ZERO, ZERO])[2] = row.house_pnl
    return [RealmRow(realm, currency, *values) for (realm, currency), values in sorted(sums.items())]


# --- bots ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StopRow:
    reason: str
    label: str
    bots: int
    in_range: int


@dataclass(frozen=True)
class BotFigures:
    running: int
    stopped: int
    stopped_by_reason: list[StopRow]


def bot_figures(date_from: date, date_to: date) -> BotFigures:
    """Bots running now, and stopped bots per stop reason (all of them, and those stopped in the range): one query."""
    start, end = day_bounds(date_from, date_to)
    labels = dict(Bot._meta.get_field("stopped_reason").choices)
    rows = (
        Bot.objects.values("status", "stopped_reason")
        .annotate(n=Count("pk"), in_range=Count("pk", filter=Q(stopped_at__gte=start, stopped_at__lt=end)))
        .order_by("status", "-n", "stopped_reason")
    )
    running, stops = 0, []
    for row in rows:
        if row["status"] == BotStatus.RUNNING:
            running += row["n"]
        else:
            reason = row["stopped_reason"]
            stops.append(StopRow(reason, labels.get(reason, "not started yet"), row["n"], row["in_range"]))
    return BotFigures(running=running, stopped=sum(s.bots for s in stops), stopped_by_reason=stops)


# --- markets -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketRow:
    """One market in one realm and currency: trades bought in the range, their results, and the stakes open now."""

    symbol: str
    realm: str
    currency: str
    trades: int
    won: int
    lost: int
    open_rise: Decimal
    open_fall: Decimal

    @property
    def win_rate(self) -> Decimal | None:
        """Won / (won + lost), in percent; ties, voids and open contracts are not results."""
        decided = self.won + self.lost
        return (Decimal(self.won * 100) / decided).quantize(Decimal("0.1")) if decided else None

    @property
    def net_open(self) -> Decimal:
        """Open Rise stakes less open Fall stakes: which way the traders lean."""
        return self.open_rise - self.open_fall


def market_figures(date_from: date, date_to: date) -> list[MarketRow]:
    """Per market, realm and currency: trades in the range, wins and losses among them, open stakes per direction.

    One query over the range's contracts and the ones open now (whenever bought).
    """
    start, end = day_bounds(date_from, date_to)
    in_range = Q(purchased_at__gte=start, purchased_at__lt=end) & ~Q(status=Status.REFUSED)
    held = Q(status__in=HELD)
    rows = (
        Contract.objects.filter(in_range | held)
        .values(symbol=F("market__symbol"), **_realm_of_contract())
        .annotate(
            trades=Count("pk", filter=in_range),
            won=Count("pk", filter=in_range & Q(status=Status.WON)),
            lost=Count("pk", filter=in_range & Q(status=Status.LOST)),
            open_rise=Sum("stake", filter=held & Q(direction=Direction.RISE)),
            open_fall=Sum("stake", filter=held & Q(direction=Direction.FALL)),
        )
        .order_by("-trades", "symbol", "realm", "currency")
    )
    return [
        MarketRow(
            symbol=row["symbol"],
            realm=row["realm"],
            currency=row["currency"],
            trades=row["trades"],
            won=row["won"],
            lost=row["lost"],
            open_rise=_money(row["open_rise"]),
            open_fall=_money(row["open_fall"]),
        )
        for row in rows
    ]


# --- health --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One process's state: its name, and what is wrong (empty when it is fine)."""

    name: str
    problem: str

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True)
class Health:
    checks: list[Check]
    queue_depth: int | None
    queue_limit: int
    failed_tasks: int

    @property
    def queue_ok(self) -> bool:
        return self.queue_depth is not None and self.queue_depth < self.queue_limit


def health() -> Health:
    """The feeds' and worker clusters' heartbeats and the task queue, as /ready/ reads them (apps.ops.selectors)."""
    checks = [
        Check(f"Feed {source}", selectors.feed_heartbeat_problem(source) or "") for source in selectors.feed_sources()
    ]
    checks += [
        Check(f"Worker {cluster}", selectors.worker_heartbeat_problem(cluster=cluster) or "")
        for cluster in selectors.worker_clusters()
    ]
    try:
        depth = selectors.task_queue_depth()
    except Exception:  # a Redis broker that is down: the page says so instead of failing
        depth = None
    return Health(
        checks=checks,
        queue_depth=depth,
        queue_limit=settings.OPS["READY_MAX_QUEUED_TASKS"],
        failed_tasks=Failure.objects.count(),
    )


# --- the page ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Analytics:
    date_from: date
    date_to: date
    users: UserFigures
    new_users: list[tuple[date, int]]
    volume: list[VolumeRow]
    realms: list[RealmRow]
    bots: BotFigures
    markets: list[MarketRow]
    health: Health

    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=i) for i in range((self.date_to - self.date_from).days + 1)]

    def chart_series(self) -> dict:
        """The charts' points, one per day of the range (0 on quiet days, so the time axis spans the range):
        new users per day, and per realm and currency the contracts and stakes per day."""
        days = self.days()
        joined = dict(self.new_users)
        per_realm: dict[str, dict[date, VolumeRow]] = {}
        for row in self.volume:
            per_realm.setdefault(f"{row.realm} {row.currency}", {})[row.day] = row
        realms = {}
        for key, rows in per_realm.items():
            realms[key] = {
                "contracts": [{"time": d.isoformat(), "value": rows[d].contracts if d in rows else 0} for d in days],
                "volume": [{"time": d.isoformat(), "value": float(rows[d].volume) if d in rows else 0.0} for d in days],
            }
        return {"users": [{"time": d.isoformat(), "value": joined.get(d, 0)} for d in days], "realms": realms}


def analytics(date_from: date, date_to: date) -> Analytics:
    """Every figure of the staff analytics page for the range."""
    volume = volume_by_day(date_from, date_to)
    house = totals_of(revenue_by_day(date_from, date_to))
    return Analytics(
        date_from=date_from,
        date_to=date_to,
        users=user_figures(date_from, date_to),
        new_users=new_users_by_day(date_from, date_to),
        volume=volume,
        realms=realm_totals(volume, house),
        bots=bot_figures(date_from, date_to),
        markets=market_figures(date_from, date_to),
        health=health(),
    )
