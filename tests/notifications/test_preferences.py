"""Settings → Notifications, and the emails' one-click unsubscribe."""

from decimal import Decimal

import pytest
from django.core import signing
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.notifications.email import unsubscribe_token
from apps.notifications.models import Channel, Kind, Notification, NotificationPreferences, OutboxEmail, Topic
from apps.notifications.services import notification_create

URL = "/settings/notifications/"


def _post(client, **changes):
    data = {
        "contract_results": "in_app",
        "bot_stopped": "email",
        "daily_summary": "off",
        "low_balance": "email",
        "deriv": "email",
        "security": "email",
        "partner_earnings": "in_app",
        "plan_billing": "email",
        "low_balance_threshold": "",
    }
    return client.post(URL, {**data, **changes})


def test_the_page_shows_each_kind_with_its_choice_and_says_when_the_plan_has_no_email(
    client, user, free_plan_by_default
):
    client.force_login(user)
    page = client.get(URL).content.decode()
    assert reverse("notification_pages:preferences") == URL
    for label in ("Contract results", "Bot stopped", "Daily summary", "Low balance", "Security", "Plan and billing"):
        assert label in page
    assert 'class="settings-nav"' in page and 'aria-current="page">Notifications' in page
    assert "Your Free plan does not include email alerts." in page
    # Security: in the app, or in the app and by email; never off.
    assert 'name="security" value="off"' not in page and 'name="bot_stopped" value="off"' in page


def test_a_paid_plan_says_nothing_about_email(client, paid, free_plan_by_default):
    client.force_login(paid)
    assert 'data-testid="plan-no-email"' not in client.get(URL).content.decode()


def test_saving_stores_each_choice_and_audits_old_to_new(client, user):
    client.force_login(user)
    response = _post(client, contract_results="off", daily_summary="email", low_balance_threshold="25.50")
    assert response.status_code == 302
    prefs = NotificationPreferences.objects.get(user=user)
    assert (prefs.contract_results, prefs.daily_summary) == (Channel.OFF, Channel.EMAIL)
    assert prefs.low_balance_threshold == Decimal("25.50")
    event = AuditEvent.objects.get(action="notifications.preferences")
    assert event.data["contract_results"] == ["in_app", "off"]
    assert event.data["low_balance_threshold"] == [None, "25.50"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"security": "off"}, "security", "Select a valid choice"),
        ({"low_balance_threshold": "-5"}, "low_balance_threshold", "greater than or equal to 0.01"),
        ({"low_balance_threshold": "1.005"}, "low_balance_threshold", "more than 2 decimal places"),
        ({"bot_stopped": "loud"}, "bot_stopped", "Select a valid choice"),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_nothing_changes(client, user, changes, field, message):
    client.force_login(user)
    response = _post(client, **changes)
    assert response.status_code == 400
    assert f'data-error-for="{field}"' in response.content.decode()
    assert message in response.content.decode()
    assert not NotificationPreferences.objects.exists()


def test_the_service_refuses_turning_security_off(user):
    from django.core.exceptions import ValidationError

    from apps.notifications.preferences import preferences_save

    with pytest.raises(ValidationError):
        preferences_save(user=user, channels={"security": "off"})


def test_off_writes_no_notice_and_in_app_writes_no_email(paid):
    NotificationPreferences.objects.create(user=paid, contract_results=Channel.OFF, bot_stopped=Channel.IN_APP)
    notification_create(user=paid, kind=Kind.CONTRACT_WON, title="Won")
    notification_create(user=paid, kind=Kind.BOT_STOPPED, title="Bot stopped")
    assert list(Notification.objects.values_list("kind", flat=True)) == [Kind.BOT_STOPPED]
    assert not OutboxEmail.objects.exists()


def test_email_is_sent_only_on_a_plan_with_email_alerts_except_security(user, free_plan_by_default):
    notification_create(user=user, kind=Kind.BOT_STOPPED, title="Bot stopped")  # default: email
    notification_create(user=user, kind=Kind.SECURITY, title="New sign-in")
    assert list(OutboxEmail.objects.values_list("topic", flat=True)) == [Topic.SECURITY]


def test_kinds_without_a_preference_stay_in_app_only(paid):
    notification_create(user=paid, kind=Kind.DEMO_RESET, title="Reset")
    assert Notification.objects.count() == 1 and not OutboxEmail.objects.exists()


def test_plan_changed_notices_follow_the_plan_and_billing_preference(paid):
    from apps.notifications.email import KIND_TOPIC

    assert KIND_TOPIC[Kind.PLAN_CHANGED] == Topic.PLAN_BILLING


# --------------------------------------------------------------------------------------------- unsubscribe


def test_get_asks_and_post_unsubscribes_without_signing_in(client, user):
    NotificationPreferences.objects.create(user=user, bot_stopped=Channel.EMAIL, daily_summary=Channel.EMAIL)
    url = reverse("notification_pages:unsubscribe", args=[unsubscribe_token(user.pk, Topic.BOT_STOPPED)])
    page = client.get(url).content.decode()
    assert "Stop “Bot stopped” emails to trader@example.com?" in page
    assert NotificationPreferences.objects.get(user=user).bot_stopped == Channel.EMAIL
    page = client.post(url).content.decode()
    assert "no more “Bot stopped” emails" in page
    prefs = NotificationPreferences.objects.get(user=user)
    assert prefs.bot_stopped == Channel.IN_APP  # still in the app
    assert prefs.daily_summary == Channel.EMAIL  # other kinds unchanged
    assert AuditEvent.objects.filter(action="notifications.unsubscribe").count() == 1


def test_one_click_post_from_a_mail_provider_needs_no_csrf_token(user):
    from django.test import Client

    url = reverse("notification_pages:unsubscribe", args=[unsubscribe_token(user.pk, Topic.DAILY_SUMMARY)])
    NotificationPreferences.objects.create(user=user, daily_summary=Channel.EMAIL)
    response = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert NotificationPreferences.objects.get(user=user).daily_summary == Channel.OFF


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "tampered",
        signing.dumps({"u": 1, "t": "bot_stopped"}, salt="another.salt"),
        "security",
    ],
    ids=["garbage", "tampered", "another-salt", "security"],  # the signed token carries the time: not an id
)
def test_a_tampered_link_is_refused_with_a_clear_page_and_nothing_changes(client, user, token):
    NotificationPreferences.objects.create(user=user)
    good = unsubscribe_token(user.pk, Topic.BOT_STOPPED)
    token = {
        "tampered": good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb"),
        "security": unsubscribe_token(user.pk, Topic.SECURITY),
    }.get(token, token)
    for method in (client.get, client.post):
        response = method(reverse("notification_pages:unsubscribe", args=[token]))
        assert response.status_code == 400
        assert "This unsubscribe link is not valid" in response.content.decode()
    assert NotificationPreferences.objects.get(user=user).bot_stopped == Channel.EMAIL
    assert not AuditEvent.objects.filter(action="notifications.unsubscribe").exists()


def test_another_users_link_is_refused_while_signed_in(client, user, other_user):
    NotificationPreferences.objects.create(user=other_user)
    client.force_login(user)
    url = reverse("notification_pages:unsubscribe", args=[unsubscribe_token(other_user.pk, Topic.BOT_STOPPED)])
    response = client.post(url)
    assert response.status_code == 403
    assert "belongs to another account" in response.content.decode()
    assert NotificationPreferences.objects.get(user=other_user).bot_stopped == Channel.EMAIL
