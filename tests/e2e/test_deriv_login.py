"""'Continue with Deriv' in a real browser, against a fake Deriv the test starts.

The web process gets DERIV_* pointing at the fake (through `live_stack_env`),
so the browser really goes to the fake's authorize page and back, and the web
process exchanges the code and reads the accounts over HTTP.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e import HOME
from tests.fakes.deriv.fixtures import running_fake_deriv

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake_deriv():
    with running_fake_deriv() as fake:
        yield fake


@pytest.fixture
def live_stack_env(fake_deriv):
    return {
        "DERIV_ENABLED": "on",
        "DERIV_CLIENT_ID": fake_deriv.client_id,
        "DERIV_AUTH_URL": fake_deriv.auth_base,
        "DERIV_REST_BASE": fake_deriv.rest_base,
        "DERIV_WS_PUBLIC": fake_deriv.ws_public_url,
    }


def _confirmation_link(mail_dir) -> str:
    messages = sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    return re.search(r"https?://\S+/accounts/confirm-email/\S+/", messages[-1].read_text()).group(0)


def _switcher_lists_the_deriv_accounts(page, demo_id, real_id):
    page.locator(".switcher summary").click()
    menu = page.locator(".switcher-menu")
    expect(menu.locator("li", has_text="Demo account")).to_contain_text("10,000.00 USD")
    expect(menu.locator("li", has_text=demo_id)).to_contain_text("Deriv demo")
    expect(menu.locator("li", has_text=demo_id)).to_contain_text("10,000.00 USD")
    expect(menu.locator("li", has_text=real_id)).to_contain_text("Deriv real")
    expect(menu.locator("li", has_text=real_id)).to_contain_text("1,000.00 USD")


def test_continue_with_deriv_signs_up_then_signs_in_with_the_deriv_accounts_listed(
    page, live_stack, running_feed, fake_deriv
):
    demo_id, real_id = fake_deriv.account_id("demo"), fake_deriv.account_id("real")

    # First time: Deriv and back, then the one thing Deriv does not tell us, the email address.
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Continue with Deriv").click()
    page.wait_for_url("**/accounts/3rdparty/signup/**")
    assert fake_deriv.token_requests[-1]["grant_type"] == "authorization_code"
    page.fill("input[name=email]", "deriv.trader@example.com")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    page.goto(_confirmation_link(live_stack.mail_dir))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(HOME)
    _switcher_lists_the_deriv_accounts(page, demo_id, real_id)

    # The Deriv page: both accounts, live, with their Deriv balances.
    page.get_by_test_id("deriv-page").click()
    expect(page.get_by_test_id("deriv-link-state")).to_contain_text("Connected")
    expect(page.get_by_test_id(f"deriv-account-{demo_id}")).to_contain_text("10,000.00 USD")
    expect(page.get_by_test_id(f"deriv-account-{real_id}")).to_contain_text("Live")

    # Next time: straight in, balances fresh from Deriv.
    fake_deriv.set_balance(real_id, "1234.50")
    page.get_by_role("button", name="Sign out").click()
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Continue with Deriv").click()
    page.wait_for_url(HOME)
    page.locator(".switcher summary").click()
    expect(page.locator(".switcher-menu li", has_text=real_id)).to_contain_text("1,234.50 USD")
    assert len(fake_deriv.token_requests) == 2
