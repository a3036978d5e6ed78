"""What the platform earned over a range of days, read from the ledger's transfers.

Commission is every COMMISSION transfer (trader → the realm's REVENUE account), markup every
MARKUP transfer (trader → the partner's PARTNER account), and the house's result is what it
took from lost stakes (LOSS, credited to HOUSE) minus what it paid on wins (PAYOUT, debited
from HOUSE). Figures are summed by the database, per day (UTC), realm and currency: a transfer
never crosses realms or currencies, and demo money is never added to real money.

Other apps can add sections to the staff page with the `revenue_report_requested` signal: a receiver
gets the range and returns a `Section` (a template and its context) or None.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.ledger.models import AccountKind, Transfer, TransferKind

from .models import Referral
from .signals import revenue_report_requested

ZERO = Decimal("0.00")
DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP_PARTNERS = 10


@dataclass(frozen=True)
class Section:
    """A part of the staff revenue page another app provides."""

    title: str
    template: str
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DayRow:
    day: date
    realm: str
    currency: str
    commission: Decimal
    markup: Decimal
    house_won: Decimal
    house_paid: Decimal

    @property
    def house_pnl(self) -> Decimal:
        return self.house_won - self.house_paid


@dataclass(frozen=True)
class Totals:
    realm: str
    currency: str
    commission: Decimal
    markup: Decimal
    house_pnl: Decimal


@dataclass(frozen=True)
class PartnerRow:
    partner_id: int
    code: str
    realm: str
    currency: str
    earned: Decimal
    signups: int


@dataclass(frozen=True)
class Report:
    date_from: date
    date_to: date
    days: list[DayRow]
    totals: list[Totals]
    partners: list[PartnerRow]

    def chart_series(self) -> dict:
        """Per realm and currency: the daily commission, markup and house result, for the page's chart."""
        series: dict[str, dict] = {}
        for row in self.days:
            key = f"{row.realm} {row.currency}"
            bucket = series.setdefault(key, {"commission": [], "markup": [], "house": []})
            day = row.day.isoformat()
            bucket["commission"].append({"time": day, "value": float(row.commission)})
            bucket["markup"].append({"time": day, "value": float(row.markup)})
            bucket["house"].append({"time": day, "value": float(row.house_pnl)})
        return series


class RangeForm(forms.Form):
    """The days a report covers, both included: by default the last 30 days up to today."""

    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("date_to") or today
        start = data.get("date_from") or end - timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            self.add_error("date_to", "The end cannot be before the start.")
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("date_from", f"Choose at most {MAX_DAYS} days.")
        data["date_from"], data["date_to"] = start, end
        return data


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(date_from, time.min), tz),
        timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz),
    )


COMMISSION = Q(kind=TransferKind.COMMISSION)
MARKUP = Q(kind=TransferKind.MARKUP)
HOUSE_WON = Q(kind=TransferKind.LOSS, credit__kind=AccountKind.HOUSE)
HOUSE_PAID = Q(kind=TransferKind.PAYOUT, debit__kind=AccountKind.HOUSE)


def _money(value) -> Decimal:
    return (value or ZERO).quantize(Decimal("0.01"))


def revenue_by_day(date_from: date, date_to: date) -> list[DayRow]:
    """Commission, markup and the house's takings and payouts per day, realm and currency: one query."""
    start, end = _bounds(date_from, date_to)
    rows = (
        Transfer.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(COMMISSION | MARKUP | HOUSE_WON | HOUSE_PAID)
        .annotate(day=TruncDate("created_at"))
        .values("day", "credit__realm", "currency")
        .annotate(
            commission=Sum("amount", filter=COMMISSION),
            markup=Sum("amount", filter=MARKUP),
            house_won=Sum("amount", filter=HOUSE_WON),
            house_paid=Sum("amount", filter=HOUSE_PAID),
        )
        .order_by("day", "credit__realm", "currency")
    )
    return [
        DayRow(
            day=row["day"],
            realm=row["credit__realm"],
            currency=row["currency"],
            commission=_money(row["commission"]),
            markup=_money(row["markup"]),
            house_won=_money(row["house_won"]),
            house_paid=_money(row["house_paid"]),
        )
        for row in rows
    ]


def totals_of(days: list[DayRow]) -> list[Totals]:
    """The range's totals per realm and currency (adding up the already-summed days)."""
    sums: dict[tuple[str, str], list[Decimal]] = {}
    for row in days:
        acc = sums.setdefault((row.realm, row.currency), [ZERO, ZERO, ZERO])
        acc[0] += row.commission
        acc[1] += row.markup
        acc[2] += row.house_pnl
    return [Totals(realm, currency, *values) for (realm, currency), values in sorted(sums.items())]


def top_partners(date_from: date, date_to: date, *, limit: int = TOP_PARTNERS) -> list[PartnerRow]:
    """The partners who earned the most markup in the range, per realm and currency, with their sign-ups then."""
    start, end = _bounds(date_from, date_to)
    earned = list(
        Transfer.objects.filter(MARKUP, created_at__gte=start, created_at__lt=end, credit__kind=AccountKind.PARTNER)
        .values("credit__owner__partner__id", "credit__owner__partner__code", "credit__realm", "currency")
        .annotate(earned=Sum("amount"))
        .order_by("-earned", "credit__owner__partner__code")[:limit]
    )
    signups = dict(
        Referral.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            partner_id__in={row["credit__owner__partner__id"] for row in earned},
        )
        .values("partner_id")
        .annotate(n=Count("id"))
        .values_list("partner_id", "n")
    )
    return [
        PartnerRow(
            partner_id=row["credit__owner__partner__id"],
            code=row["credit__owner__partner__code"],
            realm=row["credit__realm"],
            currency=row["currency"],
            earned=_money(row["earned"]),
            signups=signups.get(row["credit__owner__partner__id"], 0),
        )
        for row in earned
    ]


def revenue_report(date_from: date, date_to: date) -> Report:
    days = revenue_by_day(date_from, date_to)
    return Report(date_from, date_to, days, totals_of(days), top_partners(date_from, date_to))


def extra_sections(date_from: date, date_to: date) -> list[Section]:
    """What other apps add to the staff page for this range (see `revenue_report_requested`)."""
    answers = revenue_report_requested.send(sender=Report, date_from=date_from, date_to=date_to)
    return [section for _, section in answers if isinstance(section, Section)]
