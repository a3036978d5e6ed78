"""Reads of a trader's own settings: time zone, trading preferences, limits and self-exclusion."""

import zoneinfo
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import cache

from django.db.models import Max
from django.utils import timezone

from .models import ResponsibleTrading

UTC = zoneinfo.ZoneInfo("UTC")
# A trader's own daily limit cannot exceed this many trades at the largest stake any market takes.
LIMIT_TRADES = 1000
# Without any market (a fresh install), the largest limit a trader can set.
LIMIT_FALLBACK = Decimal("1000000.00")


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA time zone this machine knows, sorted (the Profile section's choices)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def user_timezone(user) -> tzinfo:
    """The time zone `user` chose (the site's when none, or signed out; UTC if the zone is no longer known)."""
    name = getattr(user, "time_zone", "")
    if not name:
        return timezone.get_default_timezone()
    if name not in time_zone_names():
        return UTC
    return zoneinfo.ZoneInfo(name)


def user_day_start(user, now: datetime | None = None) -> datetime:
    """The start of `user`'s day now, in their own time zone."""
    local = timezone.localtime(now or timezone.now(), user_timezone(user))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def limit_maximum() -> Decimal:
    """The largest daily limit a trader may set: the largest market stake times LIMIT_TRADES."""
    from apps.markets.models import Market

    largest = Market.objects.aggregate(largest=Max("max_stake"))["largest"]
    return (largest * LIMIT_TRADES).quantize(Decimal("0.01")) if largest else LIMIT_FALLBACK


def responsible_trading_for(user) -> ResponsibleTrading:
    """The trader's limits and self-exclusion (an unsaved empty row when they never set any)."""
    return ResponsibleTrading.objects.filter(user=user).first() or ResponsibleTrading(user=user)


def self_exclusion_until(user, now: datetime | None = None) -> datetime | None:
    """When `user`'s self-exclusion ends, while it is in force; None otherwise."""
    if not getattr(user, "is_authenticated", False):
        return None
    now = now or timezone.now()
    until = ResponsibleTrading.objects.filter(user=user, excluded_until__gt=now).values_list(
        "excluded_until", flat=True
    )
    return until.first()


def responsible_trading_of(user_ids) -> dict[int, ResponsibleTrading]:
    """The rows of those of `user_ids` that set a limit or an exclusion, by user id, with their time zones."""
    rows = ResponsibleTrading.objects.filter(user_id__in=set(user_ids)).select_related("user")
    return {row.user_id: row for row in rows}
