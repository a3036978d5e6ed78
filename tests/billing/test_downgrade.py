"""A downgrade or a lapsed payment never loses data: bots over the new plan stop with one notice saying why."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.billing.entitlements import plan_in_force
from apps.billing.models import Plan, Source, Status, Subscription
from apps.billing.services import subscription_plan_changed, subscriptions_lapse
from apps.billing.tasks import lapse_past_due
from apps.bots.models import Bot, BotStatus
from apps.bots.services import bot_create, bot_start
from apps.notifications.models import Kind, Notification
from tests.bots.conftest import TREND

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def free(free_plan_by_default):
    pass


def on(user, code, **fields) -> Subscription:
    defaults = {"plan": Plan.objects.get(code=code), "status": Status.ACTIVE, "source": Source.STRIPE} | fields
    subscription, _ = Subscription.objects.update_or_create(user=user, defaults=defaults)
    return subscription


@pytest.fixture
def running_bots(user, demo_account, markets):
    """Three running bots on Basic, started A, then B, then C."""
    on(user, "basic")
    bots = []
    for n, name in enumerate("ABC"):
        settings = {
            "name": name,
            "account": demo_account,
            "market": markets["VOL_10"],
            "blocked_regimes": [],
            "duration": 5,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        }
        bot = bot_create(user=user, decision=TREND, settings=settings)
        bot_start(user=user, bot_id=bot.pk)
        Bot.objects.filter(pk=bot.pk).update(started_at=timezone.now() - timedelta(minutes=10 - n))
        bots.append(bot)
    return bots


def running_names(user) -> list[str]:
    return sorted(Bot.objects.filter(user=user, status=BotStatus.RUNNING).values_list("name", flat=True))


def test_a_downgrade_keeps_the_earliest_started_bot_running_and_says_which_stopped(
    user, running_bots, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Subscription.objects.filter(user=user).update(status=Status.CANCELED)
        changed = subscription_plan_changed(
            user_id=user.pk, old=Plan.objects.get(code="basic"), new=plan_in_force(user), why="Cancelled."
        )
    assert changed
    assert running_names(user) == ["A"]
    stopped = Bot.objects.filter(user=user, status=BotStatus.STOPPED)
    assert {b.stopped_reason for b in stopped} == {"PLAN_LIMIT"}
    assert stopped.first().stop_detail == "Your plan is now Free, which runs 1 bot at a time."
    notice = Notification.objects.get(user=user, kind=Kind.BOT_STOPPED)
    assert notice.body == (
        "Your plan is now Free, which runs 1 bot at a time: stopped B, C. Stop and start bots to choose which one runs."
    )
    plan_notice = Notification.objects.get(user=user, kind=Kind.PLAN_CHANGED)
    assert plan_notice.title == "Your plan is now Free"
    assert AuditEvent.objects.filter(action="billing.plan_changed", data__plan=["basic", "free"]).exists()
    # Nothing was deleted: all three bots are there.
    assert Bot.objects.filter(user=user).count() == 3


def test_the_same_plan_changes_nothing(user, running_bots, django_capture_on_commit_callbacks):
    basic = Plan.objects.get(code="basic")
    with django_capture_on_commit_callbacks(execute=True):
        assert not subscription_plan_changed(user_id=user.pk, old=basic, new=basic)
    assert running_names(user) == ["A", "B", "C"]
    assert not Notification.objects.filter(user=user).exists()


def test_bots_over_the_total_are_kept_and_creation_waits_until_under_it(user, demo_account, markets):
    on(user, "basic")
    for n in range(5):
        bot_create(
            user=user,
            decision=TREND,
            settings={
                "name": f"Bot {n}",
                "account": demo_account,
                "market": markets["VOL_10"],
                "blocked_regimes": [],
                "duration": 5,
                "duration_unit": "t",
                "base_stake": Decimal("1.00"),
                "max_stake": Decimal("10.00"),
            },
        )
    Subscription.objects.filter(user=user).update(status=Status.CANCELED)
    assert Bot.objects.filter(user=user).count() == 5
    with pytest.raises(Exception, match="Your Free plan allows 3 bots"):
        bot_create(
            user=user,
            decision=TREND,
            settings={
                "name": "Sixth",
                "account": demo_account,
                "market": markets["VOL_10"],
                "blocked_regimes": [],
                "duration": 5,
                "duration_unit": "t",
                "base_stake": Decimal("1.00"),
                "max_stake": Decimal("10.00"),
            },
        )


def test_a_payment_past_its_grace_period_lapses_once_with_an_audit_entry_and_notices(
    user, running_bots, django_capture_on_commit_callbacks
):
    subscription = on(user, "basic", status=Status.PAST_DUE, past_due_since=timezone.now() - timedelta(days=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert lapse_past_due() == 0
    assert running_names(user) == ["A", "B", "C"]

    Subscription.objects.filter(pk=subscription.pk).update(past_due_since=timezone.now() - timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert lapse_past_due() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert lapse_past_due() == 0
    assert running_names(user) == ["A"]
    assert AuditEvent.objects.filter(action="billing.subscription_lapsed").count() == 1
    assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1
    notice = Notification.objects.get(user=user, kind=Kind.PLAN_CHANGED)
    assert "grace period" in notice.body
    assert Notification.objects.filter(user=user, kind=Kind.BOT_STOPPED).count() == 1

    # A month later, paid then failing again: the new past-due episode lapses again, once.
    Subscription.objects.filter(pk=subscription.pk).update(
        lapsed_at=timezone.now() - timedelta(days=30), past_due_since=timezone.now() - timedelta(days=7, seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_lapse(now=timezone.now()) == 1


def test_a_cancelled_or_granted_subscription_never_lapses(user):
    on(user, "basic", status=Status.CANCELED, past_due_since=timezone.now() - timedelta(days=30))
    assert subscriptions_lapse() == 0
    on(user, "basic", source=Source.GRANT, status=Status.PAST_DUE, past_due_since=timezone.now() - timedelta(days=30))
    assert subscriptions_lapse() == 0


def test_the_lapse_runs_every_minute_from_a_schedule():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="billing-lapse-past-due")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "apps.billing.tasks.lapse_past_due",
        Schedule.MINUTES,
        1,
    )
