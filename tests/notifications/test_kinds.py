"""Each kind of email: bot stopped (with why), low balance (once per fall), security, Deriv disconnected."""

from decimal import Decimal
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import password_changed
from allauth.mfa.signals import authenticator_added
from django.test import Client, RequestFactory

from apps.notifications.alerts import low_balance_check
from apps.notifications.models import Channel, Kind, LowBalanceAlert, Notification, NotificationPreferences, OutboxEmail
from apps.trading.services import contract_buy
from tests.bots.conftest import make_bot, market  # noqa: F401


def _buy(account, feed, key, stake="10.00"):
    return contract_buy(
        user=account.user,
        account=account,
        market=feed.markets_by_symbol["OTC_EUR_USD"],
        direction="RISE",
        stake=Decimal(stake),
        duration=5,
        duration_unit="t",
        idempotency_key=key,
    )


def test_a_bot_stop_emails_its_trader_with_the_reason(paid, make_bot):  # noqa: F811
    from apps.bots.services import bot_start
    from apps.bots.services.bots import bots_stop

    bot = make_bot()
    bot_start(user=paid, bot_id=bot.pk)
    bots_stop(bot_ids=[bot.pk], reason="BY_STAFF", detail="Stopped by staff: market review.")
    (email,) = OutboxEmail.objects.all()
    assert email.subject.startswith("Nexus: Bot Trend bot stopped")
    assert "Stopped by staff: market review." in email.body_text
    assert f"http://localhost:8000/bots/{bot.pk}/" in email.body_text
    assert email.topic == "bot_stopped" and "List-Unsubscribe" in email.headers


def test_low_balance_alerts_once_per_fall_and_again_after_it_recovers(paid, demo_account, feed):
    NotificationPreferences.objects.create(user=paid, low_balance_threshold=Decimal("9995.00"))
    _buy(demo_account, feed, "a")
    assert low_balance_check([paid.pk]) == 1
    (email,) = OutboxEmail.objects.all()
    assert "below 9,995.00 USD" in email.subject
    assert "is 9,990.00 USD" in email.body_text
    _buy(demo_account, feed, "b")
    assert low_balance_check([paid.pk]) == 0  # still below: no second alert
    from apps.accounts.services import account_reset_demo

    account_reset_demo(user=paid, account=demo_account)
    assert low_balance_check([paid.pk]) == 0
    assert not LowBalanceAlert.objects.exists()  # re-armed
    _buy(demo_account, feed, "c")
    assert low_balance_check([paid.pk]) == 1
    assert Notification.objects.filter(kind=Kind.LOW_BALANCE).count() == 2


def test_without_a_threshold_nothing_is_checked(user, demo_account, feed, django_capture_on_commit_callbacks):
    with mock.patch("apps.notifications.receivers.async_task") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            _buy(demo_account, feed, "a")
        assert not enqueue.called
        NotificationPreferences.objects.create(user=user, low_balance_threshold=Decimal("100"))
        with django_capture_on_commit_callbacks(execute=True):
            _buy(demo_account, feed, "b")
        enqueue.assert_called_once_with("apps.notifications.tasks.low_balance_check", [user.pk], group="email")
    assert low_balance_check([user.pk]) == 0


def _request(user):
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().get("/")
    request.session, request.user = SessionStore(), user
    return request


def test_a_password_change_and_a_two_factor_change_are_security_notices_by_email_on_any_plan(user):
    request = _request(user)
    password_changed.send(sender=type(user), request=request, user=user)
    totp = mock.Mock(type="totp", get_type_display=lambda: "Authenticator app")
    authenticator_added.send(sender=None, request=request, user=user, authenticator=totp)
    titles = set(Notification.objects.values_list("title", flat=True))
    assert titles == {"Your password was changed", "Two-factor authentication changed"}
    assert OutboxEmail.objects.filter(topic="security").count() == 2
    assert all(e.headers == {} for e in OutboxEmail.objects.all())


def test_security_lowered_to_in_app_writes_no_email(user):
    NotificationPreferences.objects.create(user=user, security=Channel.IN_APP)
    password_changed.send(sender=type(user), request=_request(user), user=user)
    assert Notification.objects.filter(kind=Kind.SECURITY).count() == 1
    assert not OutboxEmail.objects.exists()


def _sign_in(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": "correct horse battery staple"})
    assert response.status_code == 302, response.content.decode()[:500]


def test_a_sign_in_from_a_new_browser_is_a_security_notice(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    first = Client(HTTP_USER_AGENT="Firefox")
    _sign_in(first, user)  # the first browser ever: nothing to warn about
    assert not Notification.objects.exists()
    kept = first.cookies["nexus_browser"].value
    first.logout()
    first.cookies["nexus_browser"] = kept
    _sign_in(first, user)  # the same browser again
    assert not Notification.objects.exists()
    _sign_in(Client(HTTP_USER_AGENT="Chrome on Android"), user)
    notice = Notification.objects.get()
    assert notice.title == "New sign-in to your account" and "Chrome on Android" in notice.body
    assert OutboxEmail.objects.get().topic == "security"


@pytest.mark.parametrize("times", [1, 2])
def test_a_deriv_link_going_down_notifies_once(paid, times):
    from apps.deriv.models import DerivLink
    from apps.deriv.services import deriv_link_disconnect

    link = DerivLink.objects.create(user=paid, access_token_encrypted="x")
    for _ in range(times):
        deriv_link_disconnect(link=link, reason="Deriv refused the token.")
    notice = Notification.objects.get()
    assert (notice.kind, notice.title) == (Kind.DERIV_DISCONNECTED, "Deriv disconnected")
    assert "Deriv refused the token." in OutboxEmail.objects.get().body_text
