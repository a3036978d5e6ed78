"""Trading on a Deriv account in a real browser, against a fake Deriv the test starts.

Continue with Deriv, switch to the Deriv demo account, open a Deriv market
whose ticks come from the fake through the Deriv feed, buy a Rise: the web
process asks the connection manager (`manage.py run_deriv`, its own process)
over the Redis channel layer, the manager buys at the fake, follows the
contract and settles it from the fake's result, and the page shows it all live.

The fake runs on real time (its ticks must be fresh for trading to open), so
a 5-tick contract on 1HZ10V settles in about six seconds.
"""

import re
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from tests.e2e import HOME
from tests.fakes.deriv.fixtures import running_fake_deriv

from .test_deriv_login import _confirmation_link

pytestmark = pytest.mark.e2e

SYMBOL = "1HZ10V"
FERNET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def fake_deriv():
    with running_fake_deriv(clock_start=None, frozen=False) as fake:
        yield fake


@pytest.fixture
def deriv_settings(settings, fake_deriv):
    """This process (the Deriv feed), the web process and run_deriv see the same fake and the same token keys."""
    settings.DERIV = {
        **settings.DERIV,
        "ENABLED": True,
        "CLIENT_ID": fake_deriv.client_id,
        "AUTH_URL": fake_deriv.auth_base,
        "REST_BASE": fake_deriv.rest_base,
        "WS_PUBLIC": fake_deriv.ws_public_url,
        "FERNET_KEYS": [FERNET_KEY],
        "SYMBOLS": [SYMBOL, "R_10"],
        "FEED_BACKFILL_TICKS": 20,
    }
    return settings.DERIV


@pytest.fixture
def live_stack_env(fake_deriv, deriv_settings):
    return {
        "DERIV_ENABLED": "on",
        "DERIV_CLIENT_ID": fake_deriv.client_id,
        "DERIV_AUTH_URL": fake_deriv.auth_base,
        "DERIV_REST_BASE": fake_deriv.rest_base,
        "DERIV_WS_PUBLIC": fake_deriv.ws_public_url,
        "DERIV_FERNET_KEYS": FERNET_KEY,
    }


def _sign_up_with_deriv(page, live_stack, email="deriv.buyer@example.com"):
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Continue with Deriv").click()
    page.wait_for_url("**/accounts/3rdparty/signup/**")
    page.fill("input[name=email]", email)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    page.goto(_confirmation_link(live_stack.mail_dir))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(HOME)
    page.goto("/trade/")


def _money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.]", "", text))


def test_a_rise_bought_on_the_deriv_demo_account_is_settled_by_deriv(page, live_stack, running_deriv, fake_deriv):
    from apps.markets.models import Market

    demo_id = fake_deriv.account_id("demo")
    # The Deriv feed has synced Deriv's markets and streams their ticks.
    deadline_market = Market.objects.filter(symbol=SYMBOL)
    expect_ok = _wait(lambda: deadline_market.exists() and deadline_market.get().is_fresh, 30)
    assert expect_ok, "the Deriv feed wrote no fresh ticks"

    _sign_up_with_deriv(page, live_stack)

    # Switch to the Deriv demo account.
    page.locator(".switcher summary").click()
    page.locator(".switcher-menu li", has_text=demo_id).get_by_role("button").click()
    expect(page.locator(".switcher .account-label")).to_have_text(demo_id)
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")

    # A Deriv market, live from the fake through the feed and the channel layer.
    page.goto(f"/trade/?market={SYMBOL}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("10")
    first = page.locator("#quote").get_attribute("data-seq")
    expect(page.locator("#quote")).not_to_have_attribute("data-seq", first, timeout=20_000)
    expect(page.get_by_test_id("trade-refusal")).to_have_count(0)

    # The manager has the account's socket up: buy a Rise.
    page.fill("input[name=stake]", "10")
    page.fill("input[name=duration]", "5")
    page.get_by_role("button", name="Rise ▲").click()
    expect(page.get_by_test_id("bought")).to_contain_text("at Deriv", timeout=20_000)
    expect(page.get_by_test_id("balance")).to_have_text("9,990.00")
    row = page.locator("#positions tr[data-contract]").first
    expect(row).to_contain_text("Rise")

    # Deriv settles it; the result and Deriv's balance come back to the page.
    result = page.locator("#positions tr[data-status]").first
    expect(result).to_have_attribute("data-status", re.compile("WON|LOST"), timeout=30_000)
    status = result.get_attribute("data-status")
    expected = fake_deriv.balance(demo_id)
    assert expected == Decimal("9990.00") + (Decimal("19.50") if status == "WON" else Decimal("0"))
    expect(page.get_by_test_id("balance")).to_have_text(f"{expected:,.2f}", timeout=15_000)
    assert fake_deriv.open_contracts() == []


def _wait(predicate, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
