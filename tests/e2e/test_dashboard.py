"""The dashboard in a real browser: its cards and recent trades follow a trade live, on a phone and a desktop."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.test_chart_and_live_parts import WATCH, off_the_loop, wait_until
from tests.e2e.walk import VIEWPORTS
from tests.e2e.walk import WATCH as WATCH_CSP

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_cards_follow_a_trade_and_its_settlement_without_a_reload(signed_in, viewport):
    from apps.markets.models import Market
    from apps.trading.models import Contract, Status
    from apps.trading.services import contract_buy

    page = signed_in
    user = page.user
    account = user.trading_accounts.get()
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" or "Content Security" in m.text else None)
    page.add_init_script(WATCH)
    page.add_init_script(WATCH_CSP)
    page.set_viewport_size(VIEWPORTS[viewport])

    if viewport == "phone":
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Dashboard", exact=True).click()
    page.wait_for_url(lambda url: url.endswith("/"))
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("dash-balance")).to_contain_text("10,000.00")
    expect(page.get_by_test_id("dash-open")).to_have_text("0")
    wait_until(page, "window.nexusDashboardCharts && window.nexusDashboardCharts.dailyBars() === 30")
    assert page.evaluate("window.nexusDashboardCharts.equityPoints()") == 1  # the account opened today
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page overflows sideways"
    page.evaluate("window.notReloaded = true")
    wait_until(page, "window.__wsMessages > 0")  # the socket is up and resynced

    market = Market.objects.get(symbol="OTC_EUR_USD")
    off_the_loop(
        contract_buy,
        user=user,
        account=account,
        market=market,
        direction="RISE",
        stake=Decimal("10.00"),
        duration=3,
        duration_unit="t",
        idempotency_key=f"dash-{viewport}",
    )
    expect(page.get_by_test_id("dash-balance")).to_contain_text("9,990.00")
    expect(page.get_by_test_id("dash-open")).to_have_text("1")

    # Settled by the running feed: the open count falls back, the trade lists, today's P&L is its profit.
    contract = Contract.objects.get()
    expect(page.locator(f'#dash-recent tr[data-contract="{contract.pk}"]')).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("dash-open")).to_have_text("0")
    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST, Status.TIE)
    expect(page.get_by_test_id("dash-today")).to_have_text(f"{contract.amount_paid - contract.stake:+.2f}")
    expect(page.get_by_test_id("dash-balance")).to_contain_text(f"{Decimal('9990.00') + contract.amount_paid:,.2f}")
    assert page.evaluate("window.notReloaded") is True

    assert page.evaluate("window.__oobErrors") == []
    assert page.evaluate("window.__cspViolations") == []
    assert console == []

    # The trade page is one click away.
    page.get_by_test_id("dash-trade").click()
    page.wait_for_url("**/trade/")
    expect(page.locator("#order-form")).to_be_visible()
