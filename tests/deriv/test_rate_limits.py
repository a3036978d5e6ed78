"""Refresh from Deriv and Reset demo at Deriv, per trader per period: past the limit a 429, and Deriv is not asked."""

import html
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import AccountType

from .support import deriv, link_user


@pytest.fixture
def linked(client, user, demo_account, deriv_on):
    link_user(user, deriv_on)
    client.force_login(user)
    return user


def test_refresh_over_the_limit_answers_429_and_asks_deriv_nothing(client, linked, deriv_on, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"deriv_refresh": "1/m"}
    assert client.post(reverse("deriv:refresh")).status_code == 302
    deriv_on.set_balance(deriv_on.account_id("demo"), "9876.5")

    response = client.post(reverse("deriv:refresh"))
    assert response.status_code == 429
    assert "Too many refreshes from Deriv: at most 1 a minute. Try again in" in html.unescape(response.content.decode())
    assert deriv(linked, AccountType.DERIV_DEMO).balance != Decimal("9876.50")


def test_a_deriv_demo_reset_counts_with_demo_resets(client, linked, deriv_on, demo_account, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"demo_resets": "1/h"}
    assert client.post(reverse("accounts:reset", args=[demo_account.pk])).status_code == 302
    demo = deriv(linked, AccountType.DERIV_DEMO)
    deriv_on.set_balance(demo.external_id, "12.34")

    response = client.post(reverse("deriv:reset", args=[demo.pk]))
    assert response.status_code == 429
    assert "Too many demo account resets: at most 1 an hour." in html.unescape(response.content.decode())
    assert deriv_on.balance(demo.external_id) == Decimal("12.34")
