"""Admins edit plans (audited old → new), grant plans by hand and end grants (audited, notified, no Stripe)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.billing.entitlements import plan_in_force
from apps.billing.models import Plan, Source, Status, StripeEvent, Subscription
from apps.billing.services import PLAN_FIELDS, plan_grant
from apps.billing.signals import subscription_changed
from apps.bots.models import Bot, BotStatus
from apps.bots.services import bot_create, bot_start
from apps.notifications.models import Kind, Notification
from tests.bots.conftest import TREND

pytestmark = pytest.mark.django_db

GRANT = reverse("admin:billing_subscription_grant")
SUBSCRIPTIONS = reverse("admin:billing_subscription_changelist")


@pytest.fixture(autouse=True)
def free(free_plan_by_default):
    pass


@pytest.fixture
def changes():
    """Every subscription_changed sent, as (user_id, old, new)."""
    sent = []

    def record(sender, user_id, old_plan, new_plan, **kwargs):
        sent.append((user_id, old_plan, new_plan))

    subscription_changed.connect(record, dispatch_uid="test.changes")
    yield sent
    subscription_changed.disconnect(dispatch_uid="test.changes")


def plan_form(plan: Plan, **overrides) -> dict:
    data = {k: ("" if v is None else v) for k, v in model_to_dict(plan, fields=PLAN_FIELDS).items()}
    data = {k: v for k, v in data.items() if v is not False}  # an unchecked box is absent
    return data | overrides


def test_an_admin_edits_a_plans_limits_and_prices_audited_old_to_new(admin_client, admin_user):
    basic = Plan.objects.get(code="basic")
    url = reverse("admin:billing_plan_change", args=[basic.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, plan_form(basic, max_running_bots="4", monthly_price="59.00", stripe_price_monthly="price_basic_m")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    basic.refresh_from_db()
    assert (basic.max_running_bots, basic.monthly_price, basic.stripe_price_monthly) == (
        4,
        Decimal("59.00"),
        "price_basic_m",
    )
    event = AuditEvent.objects.get(action="billing.plan.update")
    assert event.actor == admin_user
    assert event.data == {
        "max_running_bots": [3, 4],
        "monthly_price": ["49.00", "59.00"],
        "stripe_price_monthly": ["", "price_basic_m"],
    }


def test_an_empty_limit_means_no_limit(admin_client):
    free = Plan.objects.get(code="free")
    url = reverse("admin:billing_plan_change", args=[free.pk])
    admin_client.post(url, plan_form(free, max_bots=""))
    free.refresh_from_db()
    assert free.max_bots is None
    assert AuditEvent.objects.get(action="billing.plan.update").data == {"max_bots": [3, None]}


def test_plans_are_never_deleted_and_stripe_events_are_read_only(admin_client):
    free = Plan.objects.get(code="free")
    assert admin_client.post(reverse("admin:billing_plan_delete", args=[free.pk])).status_code == 403
    event = StripeEvent.objects.create(event_id="evt_1", type="invoice.paid", payload={})
    assert admin_client.get(reverse("admin:billing_stripeevent_change", args=[event.pk])).status_code == 200
    assert admin_client.get(reverse("admin:billing_stripeevent_add")).status_code == 403


def test_an_admin_grants_a_plan_audited_notified_and_told(
    admin_client, admin_user, user, changes, django_capture_on_commit_callbacks
):
    assert "Grant a plan" in admin_client.get(SUBSCRIPTIONS).content.decode()
    pro = Plan.objects.get(code="pro")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            GRANT, {"email": user.email, "plan": pro.pk, "until": "", "note": "Partner desk"}, follow=True
        )
    assert f"Granted Pro to {user}." in response.content.decode()
    subscription = Subscription.objects.get(user=user)
    assert (subscription.plan, subscription.source, subscription.current_period_end) == (pro, Source.GRANT, None)
    assert plan_in_force(user) == pro
    assert changes == [(user.pk, "free", "pro")]
    grant = AuditEvent.objects.get(action="billing.plan_grant")
    assert grant.actor == admin_user and grant.data["plan"] == [None, "pro"] and grant.data["note"] == "Partner desk"
    notice = Notification.objects.get(user=user, kind=Kind.PLAN_CHANGED)
    assert notice.title == "Your plan is now Pro" and "Partner desk" in notice.body
    # The subscription's own page stays read-only.
    page = admin_client.get(reverse("admin:billing_subscription_change", args=[subscription.pk])).content.decode()
    assert 'name="_save"' not in page


def test_a_grant_in_the_past_or_for_nobody_is_refused_next_to_its_field(admin_client, user):
    pro = Plan.objects.get(code="pro")
    body = admin_client.post(GRANT, {"email": user.email, "plan": pro.pk, "until": "2001-01-01 00:00"}).content
    assert "Choose an end in the future" in body.decode()
    body = admin_client.post(GRANT, {"email": "nobody@example.com", "plan": pro.pk}).content
    assert "No user has this email." in body.decode()
    assert not Subscription.objects.exists()


def test_a_grant_with_an_end_lasts_until_it(user, admin_user):
    until = timezone.now() + timedelta(days=3)
    plan_grant(user=user, plan=Plan.objects.get(code="basic"), until=until, actor=admin_user)
    assert plan_in_force(user).code == "basic"
    assert plan_in_force(user, now=until + timedelta(seconds=1)).code == "free"


def test_a_stripe_subscriber_is_not_granted_over_their_subscription(user, admin_user):
    Subscription.objects.create(
        user=user, plan=Plan.objects.get(code="basic"), source=Source.STRIPE, status=Status.ACTIVE
    )
    with pytest.raises(Exception, match="through Stripe"):
        plan_grant(user=user, plan=Plan.objects.get(code="pro"), actor=admin_user)


def test_ending_a_grant_falls_back_to_the_default_and_stops_bots_over_it(
    admin_client, admin_user, user, demo_account, markets, changes, django_capture_on_commit_callbacks
):
    subscription = plan_grant(user=user, plan=Plan.objects.get(code="pro"), actor=admin_user)
    for name in ("First", "Second"):
        bot = bot_create(
            user=user,
            decision=TREND,
            settings={
                "name": name,
                "account": demo_account,
                "market": markets["VOL_10"],
                "blocked_regimes": [],
                "duration": 5,
                "duration_unit": "t",
                "base_stake": Decimal("1.00"),
                "max_stake": Decimal("10.00"),
            },
        )
        bot_start(user=user, bot_id=bot.pk)
    # The action asks for a note first, then ends the grants.
    form = admin_client.post(SUBSCRIPTIONS, {"action": "end_grant", "_selected_action": [subscription.pk]})
    assert "End the grants" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            SUBSCRIPTIONS,
            {"action": "end_grant", "_selected_action": [subscription.pk], "apply": "1", "note": "Trial over"},
            follow=True,
        )
    assert "Ended 1 grant(s)." in response.content.decode()
    assert plan_in_force(user).code == "free"
    assert changes[-1] == (user.pk, "pro", "free")
    assert AuditEvent.objects.filter(action="billing.plan_grant_end", actor=admin_user).exists()
    assert list(Bot.objects.filter(status=BotStatus.RUNNING).values_list("name", flat=True)) == ["First"]
    assert Notification.objects.filter(user=user, kind=Kind.PLAN_CHANGED, title="Your plan is now Free").exists()
    # Ending it again says there is nothing to end.
    response = admin_client.post(
        SUBSCRIPTIONS, {"action": "end_grant", "_selected_action": [subscription.pk], "apply": "1"}, follow=True
    )
    assert "has no granted plan in force" in response.content.decode()
