"""A referred trader sees what a win carries before buying, and gross, fees and net once it settles."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("width", [390, 1280])
def test_the_order_form_and_the_contract_page_show_gross_fees_and_net(signed_in, width):
    from apps.markets.models import Market
    from apps.trading.models import Contract, Status
    from apps.trading.services import win_terms
    from tests.revenue.support import commission_rule, partner, refer

    page = signed_in
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    commission_rule("20.00")
    refer(page.user, partner(markup="10.00"))
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/trade/?market=OTC_EUR_USD")

    account = page.user.trading_accounts.get()
    terms = win_terms(account=account, market=Market.objects.get(symbol="OTC_EUR_USD"), stake=Decimal("10.00"))
    page.fill("input[name=stake]", "10")
    preview = page.get_by_test_id("win-terms")
    expect(preview).to_contain_text(f"Pays {terms.payout}")
    expect(preview).to_contain_text(f"commission {terms.commission}")
    expect(preview).to_contain_text(f"partner markup {terms.markup}")
    expect(preview).to_contain_text(f"net profit {terms.net_profit}")

    # Rise and Fall on the same ticks: one of them wins (an equal exit refunds both; then again).
    won = None
    for _ in range(3):
        page.fill("input[name=duration]", "1")
        page.get_by_role("button", name="Rise").click()
        expect(page.get_by_test_id("bought")).to_contain_text("net profit")
        page.get_by_role("button", name="Fall").click()
        expect(page.get_by_test_id("bought")).to_contain_text("Bought Fall")
        expect(page.locator("#positions tr[data-status]")).not_to_have_count(0, timeout=20_000)
        page.wait_for_timeout(3000)
        won = Contract.objects.filter(user=page.user, status=Status.WON).first()
        if won:
            break
    assert won is not None, "no contract won in three tries"

    page.goto(f"/trade/contracts/{won.pk}/")
    expect(page.get_by_test_id("contract-fees")).to_contain_text(f"gross {won.payout:,.2f}")
    expect(page.get_by_test_id("contract-fees")).to_contain_text(f"commission {won.commission}")
    expect(page.get_by_test_id("net-profit")).to_contain_text(f"+{won.profit}")
    page.goto("/trade/history/")
    expect(page.get_by_test_id("stat-fees")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow
    assert errors == []
