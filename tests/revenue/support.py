"""Helpers for revenue tests: a commission rule in force and a partner who referred a trader."""

import datetime
from decimal import Decimal

from django.utils import timezone

from apps.ledger.models import Realm
from apps.revenue.models import CommissionRule, Partner, Referral, Via
from apps.users.models import User


def commission_rule(rate="20.00", *, realm=Realm.DEMO, source="", days_ago=1, until=None) -> CommissionRule:
    return CommissionRule.objects.create(
        realm=realm,
        source=source,
        rate=Decimal(rate),
        valid_from=timezone.localdate() - datetime.timedelta(days=days_ago),
        valid_until=until,
    )


def partner(code="dangote_fx", *, markup="10.00", email=None) -> Partner:
    owner = User.objects.create_user(email or f"{code}@partners.example", "pw")
    return Partner.objects.create(user=owner, code=code, markup_rate=Decimal(markup))


def refer(user, by: Partner) -> Referral:
    return Referral.objects.create(user=user, partner=by, via=Via.LINK, code_used=by.code)
