"""The staff analytics page in a real browser, at a phone's size and a desktop's: figures, charts, tables that
scroll inside their box, the range's checks; no horizontal overflow, no console error, no CSP violation."""

import pytest
from playwright.sync_api import expect

from apps.accounts.services import account_open_demo
from apps.trading.services import contracts_settle
from tests.trading.support import buy, make_market, write_ticks

from .walk import VIEWPORTS, Watched, _verified_user

pytestmark = pytest.mark.e2e


@pytest.fixture
def trading(django_user_model):
    """A trader with a won Rise and a lost Fall settled today, and an open Rise of 7.00 and Fall of 3.00."""
    trader = _verified_user(django_user_model, "trader@example.com")
    account = account_open_demo(user=trader)
    market = make_market("TEST_MKT")
    buy(account, market, "RISE", "10.00")
    buy(account, market, "FALL", "4.00")
    write_ticks(market, "100.00", "101.00")
    contracts_settle(market_ids=[market.pk])
    buy(account, market, "RISE", "7.00", duration=60, unit="m")
    buy(account, market, "FALL", "3.00", duration=60, unit="m")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_staff_read_the_analytics_page(browser, live_stack, django_user_model, trading, size):
    from tests.support.mfa import totp_activate

    staff = _verified_user(django_user_model, "staff@example.com", is_staff=True)
    account_open_demo(user=staff)  # staff land on the trade page after signing in
    _, secret = totp_activate(staff)
    watched = Watched(browser, live_stack.url, VIEWPORTS[size])
    watched.sign_in(staff.email, totp_secret=secret)
    page = watched.page

    watched.visit("/staff/revenue/")  # reached from the staff menu of another staff page
    if size == "phone":
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Analytics").click()
    page.wait_for_url("**/staff/analytics/")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(600)

    expect(page.get_by_test_id("users-total")).to_have_text("2")  # the trader and the staff member
    expect(page.get_by_test_id("users-traded")).to_have_text("1")
    realms = page.get_by_test_id("realms")
    expect(realms.locator("tbody tr")).to_have_count(1)
    expect(realms).to_contain_text("24.00")  # stakes bought today
    markets = page.get_by_test_id("markets")
    expect(markets).to_contain_text("TEST_MKT")
    expect(markets).to_contain_text("50.0%")
    expect(page.get_by_test_id("health")).to_contain_text("Feed OTC")
    charts = page.get_by_test_id("analytics-chart")
    expect(charts).to_have_count(2)  # new users, and DEMO USD contracts and stakes
    for i in range(2):
        expect(charts.nth(i).locator("canvas").first).to_be_visible()
    assert watched.overflow() <= 0, f"{watched.overflow()} px wider than the screen"
    if size == "phone":
        # The wide markets table scrolls inside its box instead of widening the page.
        box = markets.locator("xpath=..")
        assert box.evaluate("el => el.scrollWidth > el.clientWidth")
    assert watched.violations() == []
    assert watched.take_errors() == []

    page.fill("#id_date_from", "2026-11-05")
    page.fill("#id_date_to", "2026-11-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("error-date_to")).to_have_text("The end cannot be before the start.")
    expect(page.get_by_test_id("markets")).to_have_count(0)
    assert watched.overflow() <= 0
    assert watched.violations() == [] and watched.take_errors() == []
    watched.close()


def test_traders_cannot_open_it(browser, live_stack, django_user_model):
    trader = _verified_user(django_user_model, "someone@example.com")
    watched = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    watched.sign_in(trader.email)
    assert watched.page.goto("/staff/analytics/").status == 403
    watched.close()
