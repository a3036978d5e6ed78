"""The page frame: the main menu marks the page's own entry only (bug 8), the header folds on a phone."""

import re

import pytest
from django.urls import reverse


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


def current_entries(body: str) -> list[str]:
    nav = re.search(r'<nav class="mainnav"[^>]*>(.*?)</nav>', body, re.S).group(1)
    return re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', nav)


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("bots:new", "Bots"),
        ("bots:list", "Bots"),
        ("bots:backtest_new", "Backtests"),
        ("bots:backtests", "Backtests"),
        ("bots:signals", "Signals"),
        ("trading:history", "History"),
        ("notifications:list", None),
    ],
)
def test_the_menu_marks_only_the_pages_own_entry(trader, feed, name, entry):
    body = trader.get(reverse(name)).content.decode()

    assert current_entries(body) == ([entry] if entry else [])


def test_the_menu_button_folds_the_menu_and_the_menu_works_without_it(trader, feed):
    body = trader.get(reverse("trading:trade")).content.decode()

    # The button appears once the script runs; until then (and without JavaScript) the menu is open.
    assert re.search(r'<button type="button" class="menu-button" aria-controls="topbar-menu" [^>]*hidden>', body)
    assert 'id="topbar-menu"' in body and "Sign out" in body
    assert "<script>" not in body and " style=" not in body


def test_a_visitor_sees_markets_payouts_a_latest_price_bots_and_backtests(client, feed):
    from apps.markets.models import Market

    body = client.get(reverse("dashboard:home")).content.decode()

    for market in Market.objects.filter(is_active=True):
        assert market.name in body
        assert f"{market.payout_percent.normalize():f}%" in body or f"{market.payout_percent}%" in body
    first = next(m for m in Market.objects.filter(is_active=True) if m.last_price is not None)
    price = re.search(r'data-testid="home-price">.*?<strong class="price">([^<]+)</strong>', body, re.S).group(1)
    assert price == f"{first.last_price:.{first.decimals}f}"
    assert "consensus" in body and "risk manager" in body and "Backtests" in body
    assert reverse("account_signup") in body and reverse("account_login") in body


def test_a_signed_in_trader_lands_on_the_dashboard_one_click_from_the_trade_page(trader, feed):
    response = trader.get(reverse("dashboard:home"))

    assert response.status_code == 200
    body = response.content.decode()
    assert current_entries(body) == ["Dashboard"]
    assert f'class="button trade-button" href="{reverse("trading:trade")}"' in body
