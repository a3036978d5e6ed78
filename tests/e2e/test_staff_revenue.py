"""The staff revenue page in a real browser, at a phone's size and a desktop's: figures, charts, the range's
checks; no horizontal overflow, no console error, no CSP violation."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.ledger.models import Realm
from tests.revenue.ledger_support import Books, on_day
from tests.revenue.support import partner, refer

from .walk import VIEWPORTS, Watched, _verified_user

pytestmark = pytest.mark.e2e


@pytest.fixture
def revenue(django_user_model, monkeypatch):
    """Three days of demo and real revenue within the last 30 days, one partner who earned markup."""
    trader = _verified_user(django_user_model, "trader@example.com")
    today = timezone.localdate()
    with on_day(monkeypatch, today - datetime.timedelta(days=3)):
        demo, real = Books(trader, Realm.DEMO), Books(trader, Realm.REAL)
        ada = partner("ada")
        refer(trader, ada)
    for back, amount in ((3, "2.00"), (2, "3.50"), (1, "1.25")):
        with on_day(monkeypatch, today - datetime.timedelta(days=back)):
            demo.commission(amount)
            demo.markup(ada, "1.00")
            demo.lost("10.00")
            demo.won("4.00")
            real.commission(amount)
            real.markup(ada, "0.50")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_staff_read_the_revenue_page(browser, live_stack, django_user_model, revenue, size):
    from tests.support.mfa import totp_activate

    staff = _verified_user(django_user_model, "staff@example.com", is_staff=True)
    _, secret = totp_activate(staff)
    watched = Watched(browser, live_stack.url, VIEWPORTS[size])
    watched.sign_in(staff.email, totp_secret=secret)
    page = watched.page

    response = watched.visit("/staff/revenue/")

    assert response.ok
    totals = page.get_by_test_id("totals")
    expect(totals.locator("tbody tr")).to_have_count(2)
    expect(totals).to_contain_text("6.75")  # demo commission over the three days
    expect(page.get_by_test_id("days").locator("tbody tr")).to_have_count(6)
    expect(page.get_by_test_id("partners")).to_contain_text("ada")
    charts = page.get_by_test_id("revenue-chart")
    expect(charts).to_have_count(2)
    expect(charts.first.locator("canvas").first).to_be_visible()
    expect(page.get_by_test_id("deriv-markup-problem")).to_contain_text("Deriv is off")
    assert watched.overflow() <= 0, f"{watched.overflow()} px wider than the screen"
    assert watched.violations() == []
    assert watched.take_errors() == []

    page.fill("#id_date_from", "2026-11-05")
    page.fill("#id_date_to", "2026-11-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("error-date_to")).to_have_text("The end cannot be before the start.")
    expect(page.get_by_test_id("totals")).to_have_count(0)
    assert watched.overflow() <= 0
    assert watched.violations() == [] and watched.take_errors() == []
    watched.close()


def test_traders_cannot_open_it(browser, live_stack, django_user_model):
    trader = _verified_user(django_user_model, "someone@example.com")
    watched = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    watched.sign_in(trader.email)
    assert watched.page.goto("/staff/revenue/").status == 403
    watched.close()
