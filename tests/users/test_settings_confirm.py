"""Settings > Trading "ask before buying": without the page's dialog, a purchase answers with a confirmation."""

import pytest
from django.urls import reverse

from apps.trading.models import Contract
from tests.trading.support import make_market

ORDER = {"direction": "FALL", "stake": "3.00", "duration": "5", "duration_unit": "t", "idempotency_key": "confirm-1"}


@pytest.fixture
def trader(client, user, demo_account):
    user.confirm_purchases = True
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def market(db):
    return make_market()


def test_an_unconfirmed_order_shows_its_confirmation_and_buys_nothing(trader, market):
    response = trader.post(reverse("trading:buy"), {"market": market.symbol, **ORDER})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Buy Fall on" in page and 'name="confirmed" value="1"' in page and "3.00" in page
    assert not Contract.objects.exists()


def test_the_confirmed_order_buys_once(trader, market):
    data = {"market": market.symbol, **ORDER, "confirmed": "1"}
    assert trader.post(reverse("trading:buy"), data).status_code == 302
    assert trader.post(reverse("trading:buy"), data).status_code == 302
    assert Contract.objects.get().direction == "FALL"


def test_an_htmx_order_gets_the_confirmation_in_place_of_the_form(trader, market):
    response = trader.post(reverse("trading:buy"), {"market": market.symbol, **ORDER}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<form id="order-form"') and "<html" not in page
    assert not Contract.objects.exists()


def test_a_bad_order_shows_its_errors_not_a_confirmation(trader, market):
    response = trader.post(reverse("trading:buy"), {"market": market.symbol, **ORDER, "stake": "abc"})
    assert response.status_code == 422
    assert "confirmed" not in response.content.decode()


def test_without_the_preference_the_order_buys_at_once(client, user, demo_account, market):
    client.force_login(user)
    client.post(reverse("trading:buy"), {"market": market.symbol, **ORDER})
    assert Contract.objects.count() == 1
