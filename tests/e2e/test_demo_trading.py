"""A newcomer signs up, trades on the demo account, watches settlement and resets the balance."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def _balance(page) -> Decimal:
    return Decimal(page.get_by_test_id("balance").inner_text().replace(",", ""))


def test_sign_up_trade_settle_and_reset(page, running_feed):
    page.goto("/")
    page.get_by_role("link", name="Open a demo account").click()
    page.fill("input[name=email]", "newcomer@example.com")
    page.fill("input[name=password1]", "a-long-demo-passphrase")
    page.fill("input[name=password2]", "a-long-demo-passphrase")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url("**/trade/**")
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")
    expect(page.get_by_test_id("price")).to_be_visible()

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
    assert _balance(page) == Decimal("10000.00") - Decimal("25.00") + paid

    page.locator(".switcher summary").click()
    page.get_by_test_id("reset-demo").click()
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")
    expect(page.locator(".messages")).to_contain_text("back to 10000.00")


def test_a_bad_stake_shows_a_message_next_to_the_field(page, running_feed, django_user_model):
    from allauth.account.models import EmailAddress

    from apps.accounts.services import account_open_demo

    user = django_user_model.objects.create_user("bad@example.com", "a-long-demo-passphrase")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    account_open_demo(user=user)
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "bad@example.com")
    page.fill("input[name=password]", "a-long-demo-passphrase")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/trade/**")

    page.fill("input[name=stake]", "0.10")
    page.get_by_role("button", name="Fall").click()
    expect(page.locator("#stake-error")).to_contain_text("minimum stake")
    page.fill("input[name=stake]", "12.345")
    page.get_by_role("button", name="Fall").click()
    expect(page.locator("#stake-error")).to_contain_text("two decimal places")
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")
