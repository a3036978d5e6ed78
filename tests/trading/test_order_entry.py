"""Order entry: quick picks, the payout on each Rise/Fall button, and what a settled contract paid (bug 9)."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.trading.models import Status
from apps.trading.services import contracts_settle
from tests.trading.support import order_form

from .support import buy, make_market, write_ticks


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


def button(body: str, direction: str) -> str:
    return re.search(
        rf'<button type="submit" name="direction" value="{direction}"[^>]*>(.*?)</button>', body, re.S
    ).group(1)


def test_the_form_offers_stake_and_duration_quick_picks(trader, feed):
    body = trader.get(reverse("trading:trade")).content.decode()

    stakes = re.findall(r'<button type="button" class="chip" data-fill-stake="([^"]+)">', body)
    durations = re.findall(r'data-fill-duration="(\d+)" data-fill-unit="([tm])"', body)
    assert stakes == ["1", "5", "10", "25", "50", "100"]
    assert ("5", "t") in durations and ("1", "m") in durations


def test_each_direction_button_shows_the_payout_of_the_stake(trader, feed):
    body = trader.get(reverse("trading:trade"), {"market": "OTC_EUR_USD"}).content.decode()

    # The form starts at a stake of 10.00; EUR/USD OTC pays 80%.
    assert "pays 18.00" in button(body, "RISE")
    assert "pays 18.00" in button(body, "FALL")


def test_the_preview_updates_the_buttons_payouts_by_id(trader, feed):
    body = trader.get(reverse("trading:preview"), {"market": "OTC_EUR_USD", "stake": "1000"}).content.decode()

    for direction in ("rise", "fall"):
        span = re.search(
            rf'<span id="payout-{direction}" class="button-payout" hx-swap-oob="true">([^<]*)</span>', body
        )
        assert span.group(1) == "pays 1,800.00"


def test_the_bought_message_groups_thousands(trader, feed, demo_account):
    from apps.markets.models import Market

    Market.objects.filter(symbol="OTC_EUR_USD").update(max_stake=Decimal("5000.00"))
    trader.post(
        reverse("trading:buy"),
        order_form(stake="1500"),
    )
    body = trader.get(reverse("trading:trade")).content.decode()
    assert "1,500.00 USD for 5 ticks, pays 2,700.00 if it wins." in body


def test_a_lost_contract_shows_it_paid_0_00(trader, demo_account):
    market = make_market()
    contract = buy(demo_account, market, direction="RISE", duration=1)
    write_ticks(market, "100.00", "99.99")
    contracts_settle()
    contract.refresh_from_db()
    assert contract.status == Status.LOST

    body = trader.get(reverse("trading:contract", args=[contract.pk])).content.decode()
    paid = re.search(r'data-testid="paid">([^<]*)</dd>', body).group(1)

    assert paid == "0.00 USD"


def test_an_open_contract_has_paid_nothing_yet(trader, demo_account):
    market = make_market()
    contract = buy(demo_account, market, direction="RISE", duration=1)

    body = trader.get(reverse("trading:contract", args=[contract.pk])).content.decode()

    assert re.search(r'data-testid="paid">([^<]*)</dd>', body).group(1) == "—"
