"""Sign-in and sign-up while Redis (the cache behind allauth's rate limits) is down: they answer as usual.

The rate limits fail open for the outage, with a warning in the log
(apps/common/cache.py says why).
"""

import logging

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from apps.users.models import User
from tests.support.redis import redis_unreachable

PASSWORD = "correct horse battery staple"


@pytest.fixture
def redis_down(settings, monkeypatch):
    with redis_unreachable(settings, monkeypatch):
        yield


def test_sign_in_answers_normally_and_the_log_says_rate_limits_fail_open(client, user, redis_down, caplog):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    with caplog.at_level(logging.WARNING, logger="apps.common.cache"):
        response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    assert client.get(reverse("dashboard:home")).status_code == 200
    assert "rate limits fail open" in caplog.text


def test_a_wrong_password_answers_the_form_with_its_error(client, user, redis_down):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    response = client.post(reverse("account_login"), {"login": user.email, "password": "wrong"})

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.content.decode()


def test_sign_up_answers_normally(client, db, redis_down):
    response = client.post(
        reverse("account_signup"), {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 302
    assert User.objects.filter(email="new@example.com").exists()
