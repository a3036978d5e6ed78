import logging
import re

from django.core import mail
from django.urls import reverse

from apps.accounts.models import TradingAccount
from apps.audit.models import AuditEvent
from apps.users.models import User

PASSWORD = "a-long-demo-passphrase"


def test_sign_up_verifies_the_email_and_opens_a_demo_account(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "New@Example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "new@example.com"
    account = TradingAccount.objects.get(user=user)
    assert account.balance == 10000
    assert account.is_selected

    # Email verification is mandatory: the trading page waits for the link.
    assert client.get(reverse("trading:trade")).status_code == 302
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mail.outbox[-1].body).group(1)
    client.post(link)
    assert client.get(reverse("trading:trade")).status_code == 200


def test_sign_in_is_audited_with_the_ip(client, user):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post(
        reverse("account_login"),
        {"login": user.email, "password": "correct horse battery staple"},
        REMOTE_ADDR="203.0.113.9",
    )
    event = AuditEvent.objects.get(action="user.login")
    assert event.actor == user
    assert event.ip == "203.0.113.9"


def test_a_failed_sign_in_never_logs_or_stores_the_password(client, user, caplog):
    secret = "Sup3r-Secret-Typo-Password"
    with caplog.at_level(logging.DEBUG):
        client.post(reverse("account_login"), {"login": user.email, "password": secret})
    assert secret not in caplog.text
    event = AuditEvent.objects.get(action="user.login_failed")
    assert secret not in str(event.data)
    assert event.data == {"email": user.email}


def test_repeated_failed_sign_ins_are_rate_limited(client, user):
    for i in range(5):
        client.post(reverse("account_login"), {"login": user.email, "password": f"wrong-{i}"})
    response = client.post(reverse("account_login"), {"login": user.email, "password": "correct horse battery staple"})
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_signing_up_again_with_a_known_email_creates_nothing_and_reveals_nothing(client, user):
    # The page looks like any sign-up (no account enumeration); the owner gets an email.
    response = client.post(
        reverse("account_signup"), {"email": user.email, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert User.objects.count() == 1
    assert "already" in mail.outbox[-1].body.lower()
