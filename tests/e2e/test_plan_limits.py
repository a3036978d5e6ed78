"""A Free trader with one running bot presses Start on a second: the refusal says why, with an Upgrade link
that opens the pricing page on the plan that allows it, at a phone's size and a desktop's."""

import threading
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.walk import PASSWORD, VIEWPORTS, Watched

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_stack_env():
    """The web process runs with the Free plan as everyone's default: its limits apply."""
    return {"DEFAULT_PLAN": "free"}


def off_the_loop(function, *args, **kwargs):
    """Run services from their own thread, as the worker does (this thread runs Playwright's event loop)."""
    from django.db import connection

    result = {}

    def run():
        try:
            result["value"] = function(*args, **kwargs)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return result.get("value")


def _trader_with_two_bots(email: str) -> dict:
    from allauth.account.models import EmailAddress

    from apps.accounts.services import account_open_demo
    from apps.bots.services import bot_create, bot_start
    from apps.markets.models import Market
    from apps.markets.seed import seed_markets
    from apps.users.models import User
    from tests.bots.conftest import TREND

    if not Market.objects.exists():
        seed_markets()
    user = User.objects.create_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    account = account_open_demo(user=user)
    bots = {}
    for name in ("Morning scalper", "Evening trend"):
        bots[name] = bot_create(
            user=user,
            decision=TREND,
            settings={
                "name": name,
                "account": account,
                "market": Market.objects.get(symbol="VOL_10"),
                "blocked_regimes": [],
                "duration": 5,
                "duration_unit": "t",
                "base_stake": Decimal("1.00"),
                "max_stake": Decimal("10.00"),
            },
        ).pk
    bot_start(user=user, bot_id=bots["Morning scalper"])
    return bots


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_free_trader_starting_a_second_bot_is_refused_and_upgrade_opens_the_plan(browser, live_stack, viewport):
    email = f"{viewport}.trader@example.com"
    bots = off_the_loop(_trader_with_two_bots, email)
    watched = Watched(browser, live_stack.url, VIEWPORTS[viewport])
    try:
        watched.sign_in(email)
        page = watched.page
        watched.visit("/bots/")
        second = page.locator(f"#bot-{bots['Evening trend']}")
        expect(second.get_by_test_id("bot-status")).to_contain_text("Stopped")

        second.get_by_role("button", name="Start").click()
        error = second.get_by_test_id("bot-error")
        expect(error).to_contain_text(
            "Your Free plan allows 1 bot running at once. Basic allows 3 bots running at once."
        )
        expect(second.get_by_test_id("bot-status")).to_contain_text("Stopped")
        first = page.locator(f"#bot-{bots['Morning scalper']}")
        expect(first.get_by_test_id("bot-status")).to_contain_text("Running")
        link = error.get_by_test_id("upgrade-link")
        expect(link).to_have_text("Upgrade to Basic")
        assert watched.overflow() == 0, "the bots list is wider than the window"
        # The refusal is answered 422 (as every refused form is), which Chromium logs as a failed load; nothing else.
        unexpected = [e for e in watched.take_errors() if "status of 422" not in e]
        assert unexpected == [], "console errors on the bots list"
        assert watched.violations() == [], "CSP violations on the bots list"

        link.click()
        page.wait_for_url("**/pricing/?plan=basic#plan-basic")
        card = page.get_by_test_id("plan-basic")
        expect(card).to_have_class("plan-card plan-card--wanted")
        expect(card).to_be_in_viewport()
        expect(page.get_by_test_id("plan-free")).to_contain_text("Your plan")
        page.wait_for_load_state("networkidle")
        assert watched.overflow() == 0, "the pricing page is wider than the window"
        assert watched.take_errors() == [], "console errors on the pricing page"
        assert watched.violations() == [], "CSP violations on the pricing page"
    finally:
        watched.close()
