from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from allauth.mfa.models import Authenticator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_log
from apps.common import crypto

from .models import ResponsibleTrading, User
from .selectors import limit_maximum, time_zone_names, user_timezone
from .signals import self_exclusion_started

# The secrets allauth keeps in an authenticator's data, each passed through the MFA adapter's encrypt().
SECRET_FIELDS = ("secret", "seed")
SECRET_LISTS = ("migrated_codes",)


def authenticator_data_map(data: dict, transform: Callable[[str], str]) -> dict:
    """`data` with each of its secrets passed through `transform`; the rest (used codes mask) as it was."""
    data = dict(data)
    for field in SECRET_FIELDS:
        if data.get(field):
            data[field] = transform(data[field])
    for field in SECRET_LISTS:
        if data.get(field) is not None:
            data[field] = [transform(value) for value in data[field]]
    return data


def authenticators_rotate_keys() -> tuple[int, list[int]]:
    """Re-encrypt every authenticator's secrets with the newest key; returns how many, and the ids no key reads."""
    rotated, unreadable = 0, []
    for pk in Authenticator.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            authenticator = Authenticator.objects.select_for_update().get(pk=pk)
            try:
                authenticator.data = authenticator_data_map(authenticator.data, crypto.rotate)
            except crypto.DecryptError:
                unreadable.append(pk)
                continue
            authenticator.save(update_fields=["data"])
            rotated += 1
    return rotated, unreadable


# --- Settings: profile, trading preferences, responsible trading ---------------------------


def _changes(instance, values: dict) -> dict:
    """{field: [old, new]} for each of `values` that differs from `instance`, as text for the audit trail."""
    changed = {}
    for name, new in values.items():
        old = getattr(instance, name)
        if old != new:
            changed[name] = [None if old is None else str(old), None if new is None else str(new)]
    return changed


@transaction.atomic
def profile_update(*, user, display_name: str, time_zone: str, request=None):
    """Set the trader's display name and time zone (a zone this machine knows)."""
    if time_zone not in time_zone_names():
        raise ValidationError({"time_zone": "Choose a time zone from the list."})
    user = User.objects.select_for_update().get(pk=user.pk)
    values = {"display_name": display_name.strip()[:60], "time_zone": time_zone}
    if changed := _changes(user, values):
        for name, value in values.items():
            setattr(user, name, value)
        user.save(update_fields=list(values))
        audit_log(actor=user, action="user.profile_update", target=user, request=request, data=changed)
    return user


@transaction.atomic
def trading_preferences_update(
    *,
    user,
    default_market: str,
    default_stake: Decimal | None,
    default_duration: int | None,
    default_duration_unit: str,
    confirm_purchases: bool,
    request=None,
):
    """What the trade form starts with, and whether a purchase asks for a confirmation first."""
    user = User.objects.select_for_update().get(pk=user.pk)
    values = {
        "default_market": default_market,
        "default_stake": default_stake,
        "default_duration": default_duration,
        "default_duration_unit": default_duration_unit,
        "confirm_purchases": confirm_purchases,
    }
    if changed := _changes(user, values):
        for name, value in values.items():
            setattr(user, name, value)
        user.save(update_fields=list(values))
        audit_log(actor=user, action="user.trading_preferences_update", target=user, request=request, data=changed)
    return user


def limit_errors(values: dict[str, Decimal | None]) -> dict[str, str]:
    """What is wrong with each daily limit (below 0, more than two decimals, above the maximum), by field."""
    maximum = limit_maximum()
    errors = {}
    for name, value in values.items():
        if value is None:
            continue
        if value < 0:
            errors[name] = "Enter an amount of 0 or more (leave it empty for no limit)."
        elif value != value.quantize(Decimal("0.01")):
            errors[name] = "Enter an amount with at most two decimal places."
        elif value > maximum:
            errors[name] = f"Enter at most {maximum:,.2f}."
    return errors


@transaction.atomic
def trading_limits_set(*, user, daily_loss_limit: Decimal | None, daily_stake_limit: Decimal | None, request=None):
    """Set the trader's own daily loss and stake limits across all their accounts (None: no limit)."""
    values = {"daily_loss_limit": daily_loss_limit, "daily_stake_limit": daily_stake_limit}
    if errors := limit_errors(values):
        raise ValidationError(errors)
    row, _ = ResponsibleTrading.objects.select_for_update().get_or_create(user=user)
    if changed := _changes(row, values):
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        audit_log(actor=user, action="user.trading_limits_set", target=user, request=request, data=changed)
    return row


SELF_EXCLUSION_PERIODS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90, "180d": 182}


@transaction.atomic
def self_exclusion_set(*, user, period: str, request=None, now=None):
    """Pause all the trader's trading (manual and bots, every account) for `period`.

    Once set it cannot be shortened or lifted: a new period must end later
    than the one in force, and then extends it. Starting one stops the
    trader's running bots (receivers of `self_exclusion_started`, in this
    transaction).
    """
    days = SELF_EXCLUSION_PERIODS.get(period)
    if days is None:
        raise ValidationError({"period": "Choose how long to pause trading: 1 day to 6 months."})
    now = now or timezone.now()
    until = now + timedelta(days=days)
    row, _ = ResponsibleTrading.objects.select_for_update().get_or_create(user=user)
    in_force = row.excluded_until is not None and row.excluded_until > now
    if in_force and until <= row.excluded_until:
        ends = timezone.localtime(row.excluded_until, user_timezone(user)).strftime("%d %b %Y %H:%M %Z")
        raise ValidationError(
            {"period": f"Your break runs until {ends}: it cannot be shortened or lifted, only extended."}
        )
    old = row.excluded_until
    row.excluded_until = until
    if not in_force:
        row.excluded_from = now
    row.save()
    audit_log(
        actor=user,
        action="user.self_exclusion_set",
        target=user,
        request=request,
        data={"excluded_until": [old.isoformat() if old else None, until.isoformat()], "period": period},
    )
    self_exclusion_started.send(sender=ResponsibleTrading, user_id=user.pk, until=until)
    return row
