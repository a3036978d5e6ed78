"""Reads of rules, partners and attributions."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind

from .models import CommissionRule, Partner, Referral


def commission_rule_in_force(*, realm: str, source: str, on: date | None = None) -> CommissionRule | None:
    """The rule charging contracts of `realm` on markets of `source` bought on `on` (today), or None."""
    on = on or timezone.localdate()
    return (
        CommissionRule.objects.filter(realm=realm, source__in=(source, ""), valid_from__lte=on)
        .exclude(valid_until__lte=on)
        .order_by("-source")  # a rule for the source itself before one for every source (never both: no overlaps)
        .first()
    )


def partner_by_code(code: str) -> Partner | None:
    """The active partner whose code this is, in any case."""
    code = (code or "").strip().lower()
    if not code:
        return None
    return Partner.objects.filter(code=code, is_active=True).select_related("user").first()


def referral_of(user) -> Referral | None:
    return Referral.objects.filter(user=user).select_related("partner").first()


# ------------------------------------------------------------------ a partner's referrals page
# Everything below reads Referral rows and the ledger only (STAKE transfers from traders' own
# accounts, MARKUP transfers into the partner's earnings accounts): never the contracts.

# A referred trader counts as active with a stake in this many days.
ACTIVE_WINDOW = timedelta(days=30)
CHART_DAYS = 30
REALM_LABELS = {Realm.DEMO: "demo", Realm.DERIV_DEMO: "Deriv demo", Realm.REAL: ""}
CENT = Decimal("0.01")


def _cents(total) -> Decimal:
    """A SUM of amounts as money: SQLite hands sums back with float noise (0.800000000000000), to the nearest cent."""
    return Decimal(total or 0).quantize(CENT)


def mask_email(email: str) -> str:
    """An address a partner may see of a trader they referred: "jo***@ex***.com"."""
    local, _, domain = (email or "").partition("@")
    name, dot, tld = domain.rpartition(".")
    if not dot:
        name, tld = domain, ""
    masked_domain = f"{name[:2]}***" + (f".{tld}" if tld else "")
    return f"{local[:2]}***@{masked_domain}"


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def partner_earnings_account_ids(partner) -> QuerySet:
    """The partner's earnings accounts (one per realm and currency), as a subquery of ids."""
    return LedgerAccount.objects.filter(
        kind=AccountKind.PARTNER, owner_id=partner.user_id, code__startswith=f"partner:{partner.pk}:"
    ).values("id")


def _markups(partner) -> QuerySet:
    return Transfer.objects.filter(kind=TransferKind.MARKUP, credit_id__in=partner_earnings_account_ids(partner))


def _stakes_of_referred(partner) -> QuerySet:
    referred = Referral.objects.filter(partner=partner).values("user_id")
    return Transfer.objects.filter(kind=TransferKind.STAKE, debit__kind=AccountKind.USER, debit__owner_id__in=referred)


def book_label(realm: str | None, currency: str) -> str:
    """How an amount's book reads: "USD (demo)", "USD" for real money."""
    realm_label = REALM_LABELS.get(realm, "")
    return f"{currency} ({realm_label})" if realm_label else currency


@dataclass(frozen=True)
class ReferralStats:
    signups: int
    active: int
    converted: int

    @property
    def conversion(self) -> Decimal | None:
        """Percent of sign-ups that placed at least one trade; None before the first sign-up."""
        if not self.signups:
            return None
        return (Decimal(self.converted) * 100 / self.signups).quantize(Decimal("0.1"))


def partner_referral_stats(partner, *, now: datetime | None = None) -> ReferralStats:
    """Sign-ups, active traders (a stake in the last 30 days) and sign-ups that traded: two queries."""
    now = now or timezone.now()
    signups = Referral.objects.filter(partner=partner).count()
    counts = _stakes_of_referred(partner).aggregate(
        converted=Count("debit__owner_id", distinct=True),
        active=Count("debit__owner_id", distinct=True, filter=Q(created_at__gte=now - ACTIVE_WINDOW)),
    )
    return ReferralStats(signups=signups, active=counts["active"], converted=counts["converted"])


@dataclass(frozen=True)
class Earnings:
    """A partner's markup in one book (realm and currency): today, the last 7 and 30 days, and ever."""

    realm: str | None
    currency: str
    today: Decimal
    week: Decimal
    month: Decimal
    total: Decimal

    @property
    def label(self) -> str:
        return book_label(self.realm, self.currency)


def partner_earnings(partner, *, now: datetime | None = None) -> list[Earnings]:
    """Markup earned per book, in one query; real money first. A partner with none gets one row of zeros."""
    now = now or timezone.now()
    zero = _cents(0)
    windows = {
        "today": _midnight(timezone.localdate(now)),
        "week": now - timedelta(days=7),
        "month": now - timedelta(days=30),
    }
    rows = (
        _markups(partner)
        .values("credit__realm", "credit__currency")
        .annotate(
            total=Sum("amount"),
            **{name: Sum("amount", filter=Q(created_at__gte=since)) for name, since in windows.items()},
        )
        .order_by("credit__realm", "credit__currency")
    )
    books = [
        Earnings(
            realm=row["credit__realm"],
            currency=row["credit__currency"],
            **{name: _cents(row[name]) for name in ("today", "week", "month", "total")},
        )
        for row in rows
    ]
    books.sort(key=lambda b: (b.realm != Realm.REAL, b.realm or "", b.currency))
    return books or [Earnings(None, settings.NEXUS["DEMO_CURRENCY"], zero, zero, zero, zero)]


def partner_daily_earnings(partner, *, days: int = CHART_DAYS, now: datetime | None = None) -> list[dict]:
    """Markup earned per day over the last `days` days (today included), one series per book, zeros filled in.

    [{"label": "USD (demo)", "points": [(date, Decimal), ...]}]; one query, summed by day in SQL.
    """
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    rows = (
        _markups(partner)
        .filter(created_at__gte=_midnight(first))
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("credit__realm", "credit__currency", "day")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    by_book: dict[tuple[str, str], dict[date, Decimal]] = {}
    for row in rows:
        by_book.setdefault((row["credit__realm"], row["credit__currency"]), {})[row["day"]] = _cents(row["total"])
    all_days = [first + timedelta(days=n) for n in range(days)]
    books = sorted(by_book, key=lambda b: (b[0] != Realm.REAL, b))
    return [
        {
            "label": book_label(realm, currency),
            "points": [(day, by_book[(realm, currency)].get(day, Decimal("0.00"))) for day in all_days],
        }
        for realm, currency in books
    ]


class _MaskedRows:
    """A sliceable list of a queryset's rows in which each trader's address is masked: what a Paginator pages."""

    def __init__(self, queryset: QuerySet, shape):
        self.queryset, self.shape = queryset, shape

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.shape(row) for row in self.queryset[index]]
        return self.shape(self.queryset[index])


def _referred_trader(row: dict) -> dict:
    return {"trader": mask_email(row["user__email"]), "signed_up": row["created_at"], "traded": row["traded"]}


def partner_referred_traders(partner) -> _MaskedRows:
    """The traders the partner brought, newest first: masked address, sign-up time, whether they traded."""
    traded = Transfer.objects.filter(
        kind=TransferKind.STAKE, debit__kind=AccountKind.USER, debit__owner_id=OuterRef("user_id")
    )
    rows = (
        Referral.objects.filter(partner=partner)
        .annotate(traded=Exists(traded))
        .values("user__email", "created_at", "traded")
        .order_by("-created_at", "-id")
    )
    return _MaskedRows(rows, _referred_trader)


def _markup_row(row: dict) -> dict:
    kind, _, number = row["reference"].partition(":")
    return {
        "at": row["created_at"],
        "contract": number if kind == "contract" else row["reference"],
        "trader": mask_email(row["debit__owner__email"]),
        "amount": _cents(row["amount"]),
        "book": book_label(row["credit__realm"], row["currency"]),
    }


def partner_markup_per_contract(partner) -> _MaskedRows:
    """Each markup the partner earned, newest first: when, which contract, whose (masked), how much."""
    rows = (
        _markups(partner)
        .order_by("-created_at", "-id")
        .values("created_at", "reference", "amount", "currency", "credit__realm", "debit__owner__email")
    )
    return _MaskedRows(rows, _markup_row)


def partner_earnings_by_day(day: date) -> list[dict]:
    """Every partner's markup earned on `day` (local), per book: one query, for the daily notice.

    [{"partner_id", "user_id", "realm", "currency", "amount", "contracts"}], ordered by partner.
    """
    rows = (
        Transfer.objects.filter(
            kind=TransferKind.MARKUP,
            credit__kind=AccountKind.PARTNER,
            created_at__gte=_midnight(day),
            created_at__lt=_midnight(day + timedelta(days=1)),
        )
        .values("credit_id", "credit__code", "credit__owner_id", "credit__realm", "credit__currency")
        .annotate(amount=Sum("amount"), contracts=Count("id"))
        .order_by("credit__owner_id", "credit__realm", "credit__currency")
    )
    return [
        {
            "partner_id": int(row["credit__code"].split(":")[1]),
            "user_id": row["credit__owner_id"],
            "realm": row["credit__realm"],
            "currency": row["credit__currency"],
            "amount": _cents(row["amount"]),
            "contracts": row["contracts"],
        }
        for row in rows
    ]


def partner_of(user) -> Partner | None:
    """The user's partner profile, if they have one (made at sign-up, or with "Get my link")."""
    return Partner.objects.filter(user=user).first()
