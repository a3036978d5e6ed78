import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.trading.models import Contract, Status
from tests.trading.support import order_form


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


def _order(**overrides):
    return order_form(**overrides)


def _balance(account) -> Decimal:
    account.ledger_account.refresh_from_db()
    return account.ledger_account.balance


def test_the_trading_page_shows_markets_price_and_balance(trader, feed, demo_account):
    response = trader.get(reverse("trading:trade"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "EUR/USD OTC" in body
    assert "10,000.00" in body
    assert 'data-testid="price"' in body


def test_the_trading_page_requires_sign_in(client, feed):
    response = client.get(reverse("trading:trade"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_a_plain_form_post_buys_and_redirects(trader, feed, demo_account):
    response = trader.post(reverse("trading:buy"), _order())
    assert response.status_code == 302
    contract = Contract.objects.get()
    assert contract.stake == Decimal("10.00")
    assert _balance(demo_account) == Decimal("9990.00")


def test_an_htmx_post_returns_the_form_with_a_confirmation(trader, feed, demo_account):
    response = trader.post(reverse("trading:buy"), _order(), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Bought Rise on EUR/USD OTC" in body
    assert "contractBought" in response["HX-Trigger"]
    # The header balance comes back with the answer, whatever the socket does.
    assert 'id="header-balance" class="balance" hx-swap-oob="true"' in body
    assert "9,990.00" in body


def test_a_double_submitted_form_buys_once(trader, feed, demo_account):
    trader.post(reverse("trading:buy"), _order())
    trader.post(reverse("trading:buy"), _order())
    assert Contract.objects.count() == 1
    assert _balance(demo_account) == Decimal("9990.00")


@pytest.mark.parametrize(
    ("order", "field", "message"),
    [
        ({"stake": "0.10"}, "stake", "The minimum stake on EUR/USD OTC is 0.35 USD."),
        ({"stake": "1000.01"}, "stake", "The maximum stake on EUR/USD OTC is 1000.00 USD."),
        ({"stake": "ten"}, "stake", "Enter the stake as a number, like 10.00."),
        ({"stake": "-5"}, "stake", "The minimum stake on EUR/USD OTC is 0.35 USD."),
        ({"stake": "1.234"}, "stake", "Enter a stake with at most two decimal places."),
        ({"stake": ""}, "stake", "Enter a stake."),
        ({"market": "NOPE"}, "market", "That market does not exist or is closed for trading."),
        ({"duration": "11"}, "duration", "Tick contracts last 1 to 10 ticks."),
        ({"duration": "0"}, "duration", "Tick contracts last 1 to 10 ticks."),
        ({"duration": "7", "duration_unit": "m"}, "duration", "Choose 1, 5, 15, 30 or 60 minutes."),
        ({"duration_unit": "h"}, "duration", "Choose ticks or minutes."),
        ({"direction": "SIDEWAYS"}, "direction", "Choose Rise or Fall."),
    ],
)
def test_bad_input_is_refused_with_a_message_and_changes_nothing(trader, feed, demo_account, order, field, message):
    response = trader.post(reverse("trading:buy"), _order(**order), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Contract.objects.exists()
    assert _balance(demo_account) == Decimal("10000.00")


def test_a_stake_above_the_balance_is_refused(trader, feed, demo_account, markets):
    markets["OTC_EUR_USD"].max_stake = Decimal("20000.00")
    markets["OTC_EUR_USD"].save()
    response = trader.post(reverse("trading:buy"), _order(stake="10000.01"))
    assert response.status_code == 422
    assert "does not cover this stake" in response.content.decode()
    assert not Contract.objects.exists()


def test_an_inactive_market_cannot_be_traded(trader, feed, demo_account, markets):
    markets["OTC_EUR_USD"].is_active = False
    markets["OTC_EUR_USD"].save()
    response = trader.post(reverse("trading:buy"), _order())
    assert "That market does not exist or is closed for trading." in response.content.decode()
    assert not Contract.objects.exists()


def test_a_stale_market_is_paused_with_a_banner_and_refuses_trades(trader, demo_account, markets):
    # No feed: the market has never ticked.
    page = trader.get(reverse("trading:trade") + "?market=OTC_EUR_USD").content.decode()
    assert 'data-testid="paused"' in page
    assert "Prices for EUR/USD OTC are paused" in page
    response = trader.post(reverse("trading:buy"), _order())
    assert "Prices for EUR/USD OTC are paused" in response.content.decode()
    assert not Contract.objects.exists()


@pytest.mark.parametrize("name", ["trading:buy"])
def test_get_on_a_state_changing_url_is_405(trader, name):
    assert trader.get(reverse(name)).status_code == 405


def test_another_users_contract_is_404(client, feed, demo_account, other_user):
    from apps.accounts.services import account_open_demo
    from apps.trading.services import contract_buy

    theirs = account_open_demo(user=other_user)
    contract = contract_buy(
        user=other_user,
        account=theirs,
        market=feed.markets[next(iter(feed.markets))],
        direction="RISE",
        stake=Decimal("1.00"),
        duration=1,
        duration_unit="t",
        idempotency_key="theirs",
    )
    client.force_login(demo_account.user)
    assert client.get(reverse("trading:contract", args=[contract.pk])).status_code == 404
    client.force_login(other_user)
    assert client.get(reverse("trading:contract", args=[contract.pk])).status_code == 200


def test_the_payout_preview_follows_the_stake(trader, feed):
    response = trader.get(reverse("trading:preview"), {"market": "OTC_EUR_USD", "stake": "25"})
    assert "45.00" in response.content.decode()
    response = trader.get(reverse("trading:preview"), {"market": "OTC_EUR_USD", "stake": "abc"})
    assert "Enter a stake" in response.content.decode()


def _stake_error(body: str) -> str:
    match = re.search(r'<p class="error" id="stake-error"[^>]*>(.*?)</p>', body, re.S)
    return html.unescape(match.group(1)).strip() if match else ""


@pytest.mark.parametrize(
    ("stake", "message"),
    [
        ("0.001", "Enter a stake with at most two decimal places."),
        ("0", "The minimum stake on EUR/USD OTC is 0.35 USD."),
        ("0.00", "The minimum stake on EUR/USD OTC is 0.35 USD."),
    ],
)
def test_a_refused_stake_gets_one_message_that_names_the_markets_minimum(trader, feed, stake, message):
    """Bug 7: "0.001" was also "more than zero", and "0" said "more than zero" with a minimum of 0.35."""
    for headers in ({}, {"HX-Request": "true"}):
        body = trader.post(reverse("trading:buy"), _order(stake=stake), headers=headers).content.decode()
        assert "more than zero" not in body
        assert _stake_error(body) == message
    assert not Contract.objects.exists()


def test_a_stake_without_a_market_must_still_be_more_than_zero(trader, feed):
    body = trader.post(reverse("trading:buy"), _order(stake="0", market="NOPE")).content.decode()
    assert "The stake must be more than zero." in body


@pytest.mark.parametrize("stake", ["100000", "0.01", "0.34", "1000.01"])
def test_the_payout_preview_states_the_limits_for_a_stake_the_market_refuses(trader, feed, stake):
    """Bug 7: the preview said "Pays 180000.00" for 100000 and "profit 0.00" for 0.01."""
    body = trader.get(reverse("trading:preview"), {"market": "OTC_EUR_USD", "stake": stake}).content.decode()
    assert "Stake between 0.35 and 1,000.00 USD on EUR/USD OTC" in body
    assert "Pays" not in body and "profit" not in body


@pytest.mark.parametrize("stake", ["0.35", "1000.00"])
def test_the_payout_preview_pays_at_both_limits(trader, feed, stake):
    body = trader.get(reverse("trading:preview"), {"market": "OTC_EUR_USD", "stake": stake}).content.decode()
    assert "Pays" in body and "Stake between" not in body


def test_history_filters_by_result_and_paginates(trader, feed, demo_account):
    for i in range(30):
        trader.post(reverse("trading:buy"), _order(idempotency_key=f"k{i}", duration="1"))
    feed.tick(3)
    assert not Contract.objects.filter(status=Status.OPEN).exists()
    response = trader.get(reverse("trading:history"))
    body = response.content.decode()
    assert "Page 1 of 2" in body
    won = Contract.objects.filter(status=Status.WON).count()
    response = trader.get(reverse("trading:history"), {"result": "WON"})
    assert response.context["page"].paginator.count == won
    assert response.context["stats"].wins == won


def test_history_refuses_an_inverted_date_range(trader, feed):
    response = trader.get(reverse("trading:history"), {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert "The end date is before the start date." in response.content.decode()
