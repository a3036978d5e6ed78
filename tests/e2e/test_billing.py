"""A Free trader with one running bot is refused a second, follows Upgrade to the pricing page and subscribes
to Basic through the fake Stripe Checkout: back on the billing page it says "Activating your plan…" until
Stripe's webhook is applied, then switches to Basic live (no reload), and the second bot starts; at a
phone's size and a desktop's.

The stack is the real one: daphne with billing on (STRIPE_* at the fake, DEFAULT_PLAN=free), Q_SYNC so
the webhook is applied in the web process as the worker would, and the fake posting its signed events
to the web process's webhook endpoint.
"""

import importlib
import threading
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.walk import PASSWORD, VIEWPORTS, Watched
from tests.fakes.stripe import FakeStripe

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def live_stack_env(fake_stripe):
    return {
        "DEFAULT_PLAN": "free",
        "STRIPE_SECRET_KEY": fake_stripe.secret_key,
        "STRIPE_WEBHOOK_SECRET": fake_stripe.webhook_secret,
        "STRIPE_API_BASE": fake_stripe.url,
    }


def off_the_loop(function, *args, **kwargs):
    """Run ORM work in its own thread (this thread runs Playwright's event loop)."""
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


def _free_trader_with_one_bot_running(email: str) -> dict:
    from allauth.account.models import EmailAddress

    from apps.accounts.services import account_open_demo
    from apps.billing.models import Plan
    from apps.bots.services import bot_create, bot_start
    from apps.markets.models import Market
    from apps.markets.seed import seed_markets
    from apps.users.models import User
    from tests.bots.conftest import TREND

    # A transactional test starts from an empty database: the seeded plans are put back, selling the fake's prices.
    for fields in importlib.import_module("apps.billing.migrations.0002_plans").PLANS:
        Plan.objects.get_or_create(code=fields["code"], defaults=fields)
    for code in ("basic", "pro"):
        Plan.objects.filter(code=code).update(
            stripe_price_monthly=f"price_{code}_month", stripe_price_yearly=f"price_{code}_year"
        )
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


def _plan_of(email: str) -> str:
    from apps.billing.entitlements import plan_in_force
    from apps.users.models import User

    return plan_in_force(User.objects.get(email=email)).code


def _judge(watched: Watched, what: str) -> None:
    assert watched.overflow() == 0, f"{what} is wider than the window"
    assert watched.take_errors() == [], f"console errors on {what}"
    assert watched.violations() == [], f"CSP violations on {what}"


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_free_trader_subscribes_through_checkout_sees_the_plan_switch_live_and_starts_a_bot(
    browser, live_stack, fake_stripe, settings, viewport
):
    settings.BILLING = {**settings.BILLING, "DEFAULT_PLAN": "free"}
    fake_stripe.webhook_url = live_stack.url + "/billing/stripe/webhook/"
    email = f"{viewport}.subscriber@example.com"
    bots = off_the_loop(_free_trader_with_one_bot_running, email)
    watched = Watched(browser, live_stack.url, VIEWPORTS[viewport])
    try:
        watched.sign_in(email)
        page = watched.page

        watched.visit("/bots/")
        second = page.locator(f"#bot-{bots['Evening trend']}")
        second.get_by_role("button", name="Start").click()
        expect(second.get_by_test_id("bot-error")).to_contain_text("Your Free plan allows 1 bot running at once.")
        expect(second.get_by_test_id("bot-status")).to_contain_text("Stopped")
        # The refusal is answered 422 (as every refused form is), which Chromium logs as a failed load.
        assert [e for e in watched.take_errors() if "status of 422" not in e] == []
        second.get_by_test_id("upgrade-link").click()
        page.wait_for_url("**/pricing/?plan=basic#plan-basic")
        page.wait_for_load_state("networkidle")
        expect(page.get_by_test_id("plan-free")).to_contain_text("Your plan")
        expect(page.get_by_test_id("contact-enterprise")).to_be_visible()
        _judge(watched, "the pricing page")

        # Abandoned first: Back on the Checkout page changes nothing.
        page.get_by_test_id("subscribe-basic-month").click()
        page.wait_for_url(f"{fake_stripe.url}/pay/**")
        page.get_by_role("link", name="Back").click()
        page.wait_for_url("**/pricing/?plan=basic#plan-basic")
        expect(page.get_by_text("Checkout was cancelled; nothing changed.")).to_be_visible()
        assert off_the_loop(_plan_of, email) == "free"

        # Then paid; Stripe is slow to send its events, so the billing page says "Activating…" first.
        fake_stripe.hold()
        page.get_by_test_id("subscribe-basic-month").click()
        page.wait_for_url(f"{fake_stripe.url}/pay/**")
        expect(page.get_by_test_id("checkout-item")).to_contain_text("Basic: 49.00 USD a month")
        page.get_by_role("button", name="Pay").click()
        page.wait_for_url("**/billing/?checkout=cs_test_*")
        expect(page.get_by_test_id("billing-activating")).to_contain_text("Activating your plan")
        expect(page.get_by_test_id("billing-plan")).to_have_attribute("data-plan", "free")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(600)  # the socket is up
        page.evaluate("window.__notReloaded = true")

        fake_stripe.release()
        fake_stripe.wait_delivered()
        assert set(status for _, status in fake_stripe.deliveries) == {200}
        expect(page.get_by_test_id("billing-plan")).to_have_attribute("data-plan", "basic")
        expect(page.get_by_test_id("billing-activated")).to_have_text("Your plan is now Basic.")
        expect(page.get_by_test_id("billing-renewal")).to_contain_text("Renews on")
        assert page.evaluate("window.__notReloaded === true"), "the page reloaded instead of switching live"
        assert off_the_loop(_plan_of, email) == "basic"
        _judge(watched, "the billing page")

        watched.visit("/billing/")
        expect(page.get_by_test_id("invoices")).to_contain_text("49.00 USD")
        expect(page.get_by_test_id("manage-billing")).to_be_visible()
        _judge(watched, "the billing page with its invoices")

        watched.visit("/bots/")
        second = page.locator(f"#bot-{bots['Evening trend']}")
        second.get_by_role("button", name="Start").click()
        expect(second.get_by_test_id("bot-status")).to_contain_text("Running")
        expect(second.get_by_test_id("bot-error")).to_have_count(0)
        first = page.locator(f"#bot-{bots['Morning scalper']}")
        expect(first.get_by_test_id("bot-status")).to_contain_text("Running")
        _judge(watched, "the bots list")
    finally:
        watched.close()
