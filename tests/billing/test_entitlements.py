"""The one answer to "may this user do X?": the plan in force, and the plan that would allow it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.billing.entitlements import PLAN_LIMIT, feature_refusal, limit_refusal, plan_in_force
from apps.billing.models import Plan, Source, Status, Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def free_by_default(settings):
    settings.BILLING = {**settings.BILLING, "DEFAULT_PLAN": "free", "GRACE_DAYS": 7}


def on(user, code, **fields) -> Subscription:
    defaults = {"plan": Plan.objects.get(code=code), "status": Status.ACTIVE, "source": Source.STRIPE} | fields
    subscription, _ = Subscription.objects.update_or_create(user=user, defaults=defaults)
    return subscription


def test_the_seeded_plans_are_priced_as_the_plan_sheet_says():
    plans = {p.code: p for p in Plan.objects.all()}
    assert [p.code for p in Plan.objects.all()] == ["free", "basic", "pro", "enterprise"]
    assert (plans["basic"].monthly_price, plans["basic"].yearly_price) == (49, 470)
    assert (plans["pro"].monthly_price, plans["pro"].yearly_price) == (149, 1430)
    assert plans["free"].max_running_bots == 1 and plans["free"].max_backtest_days == 7
    assert plans["pro"].deriv_real_trading and not plans["basic"].deriv_real_trading
    assert plans["enterprise"].sold_by_contact and plans["enterprise"].max_running_bots is None


def test_without_a_subscription_the_default_plan_is_in_force(user):
    assert plan_in_force(user).code == "free"


def test_a_refusal_says_what_the_plan_allows_and_which_plan_allows_more(user):
    refusal = limit_refusal(user, "max_running_bots", wanted=2)
    assert refusal.message == "Your Free plan allows 1 bot running at once. Basic allows 3 bots running at once."
    assert refusal.upgrade.code == "basic"
    error = refusal.error("bots")
    assert error.error_dict["bots"][0].code == PLAN_LIMIT
    assert limit_refusal(user, "max_running_bots", wanted=1) is None
    assert limit_refusal(user, "max_running_bots", wanted=21).upgrade.code == "enterprise"
    assert feature_refusal(user, "deriv_real_trading").upgrade.code == "pro"
    assert feature_refusal(user, "deriv_real_trading").message == (
        "Your Free plan does not include trading Deriv real-money accounts. Pro does."
    )


def test_a_paid_plan_is_in_force_while_active_and_through_the_grace_period_after_a_failed_payment(user):
    subscription = on(user, "pro")
    assert plan_in_force(user).code == "pro"
    assert limit_refusal(user, "max_running_bots", wanted=20) is None
    subscription.status, subscription.past_due_since = Status.PAST_DUE, timezone.now() - timedelta(days=6)
    subscription.save()
    assert plan_in_force(user).code == "pro"
    subscription.past_due_since = timezone.now() - timedelta(days=8)
    subscription.save()
    assert plan_in_force(user).code == "free"
    subscription.status = Status.CANCELED
    subscription.save()
    assert plan_in_force(user).code == "free"


def test_a_grant_lasts_until_its_end(user):
    on(user, "enterprise", source=Source.GRANT, current_period_end=timezone.now() + timedelta(days=1))
    assert plan_in_force(user).code == "enterprise"
    assert plan_in_force(user, now=timezone.now() + timedelta(days=2)).code == "free"
