"""Reads of rules, partners and attributions."""

from datetime import date

from django.utils import timezone

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
