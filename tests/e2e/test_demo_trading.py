"""A newcomer signs up, trades on the demo account, watches settlement and resets the balance."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e import HOME

pytestmark = pytest.mark.e2e


def _confirmation_link(mail_dir) -> str:
    messages = sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    return re.search(r"https?://\S+/accounts/confirm-email/\S+/", messages[-1].read_text()).group(0)


def test_sign_up_trade_settle_and_reset(page, live_stack, running_feed):
    page.goto("/")
    page.get_by_role("link", name="Open a demo account").click()
    page.fill("input[name=email]", "newcomer@example.com")
    page.fill("input[name=password1]", "a-long-demo-passphrase")
    page.fill("input[name=password2]", "a-long-demo-passphrase")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    page.goto(_confirmation_link(live_stack.mail_dir))
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(HOME)
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")
    page.get_by_test_id("dash-trade").click()
    expect(page.get_by_test_id("price")).to_be_visible()
    page.wait_for_load_state()  # htmx listens to the stake field once the page's scripts ran

    page.fill("input[name=stake]", "25")
    expect(page.locator("#preview")).to_contain_text("45.00")
    page.fill("input[name=duration]", "2")
    page.get_by_role("button", name="Rise").click()
    expect(page.get_by_test_id("bought")).to_contain_text("Bought Rise")
    expect(page.get_by_test_id("balance")).to_have_text("9,975.00")

    settled = page.locator("#positions tr[data-status]")
    expect(settled).to_have_count(1, timeout=20_000)
    status = settled.first.get_attribute("data-status")
    paid = {"WON": Decimal("45.00"), "LOST": Decimal("0.00"), "TIE": Decimal("25.00")}[status]
    expect(page.get_by_test_id("balance")).to_have_text(f"{Decimal('9975.00') + paid:,.2f}")

    page.locator(".switcher summary").click()
    page.get_by_test_id("reset-demo").click()
    # It asks first, in a dialog.
    expect(page.locator("#reset-dialog")).to_be_visible()
    page.locator("#reset-dialog").get_by_test_id("reset-confirm").click()
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")
    expect(page.locator(".messages")).to_contain_text("back to 10,000.00")


def test_a_bad_stake_shows_a_message_next_to_the_field(signed_in):
    page = signed_in
    page.fill("input[name=stake]", "0.10")
    page.get_by_role("button", name="Fall").click()
    expect(page.locator("#stake-error")).to_contain_text("minimum stake")
    page.fill("input[name=stake]", "12.345")
    page.get_by_role("button", name="Fall").click()
    expect(page.locator("#stake-error")).to_contain_text("two decimal places")
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")
