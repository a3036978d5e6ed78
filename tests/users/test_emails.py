"""Emails say they come from Nexus, with a subject a person reads, not "[127.0.0.1:8000] ..."."""

from django.core import mail
from django.urls import reverse

PASSWORD = "a-long-demo-passphrase"


def test_the_sign_up_email_is_branded(client, db):
    client.post(reverse("account_signup"), {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD})

    message = mail.outbox[-1]
    assert message.subject == "Nexus: Confirm your email address to start trading"
    assert "[" not in message.subject and "testserver" not in message.subject
    assert message.body.startswith("Hello from Nexus!")
    assert "/accounts/confirm-email/" in message.body
    assert "Nexus <" in message.from_email


def test_a_password_reset_email_is_branded(client, user):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post(reverse("account_reset_password"), {"email": user.email})

    message = mail.outbox[-1]
    assert message.subject == "Nexus: Reset your password"
    assert "Hello from Nexus!" in message.body
