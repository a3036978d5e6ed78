"""A partner copies their link, a visitor signs up through it, trades and wins, and the partner sees the markup.

The partner's browser is a desktop one; the new visitor's a phone. Every page
they open is watched for console errors and CSP violations, and the referrals
page must fit a phone's width.
"""

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.e2e import HOME
from tests.e2e.walk import PASSWORD, VIEWPORTS, Watched

pytestmark = pytest.mark.e2e


def off_the_loop(function, *args, **kwargs):
    """Run services from their own thread, as the worker does (this thread runs Playwright's event loop)."""
    from django.db import connection

    result = {}

    def run():
        try:
            result["value"] = function(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test
            result["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _confirmation_link(mail_dir) -> str:
    messages = sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
    return re.search(r"https?://\S+/accounts/confirm-email/\S+/", messages[-1].read_text()).group(0)


def _a_winning_contract(user):
    """The new trader buys a 10.00 Rise on a market of their own and the next ticks make it win."""
    from apps.trading.models import Contract
    from apps.trading.services import contracts_settle
    from tests.trading.support import buy, make_market, write_ticks

    market = make_market("OTC_E2E_REFERRALS")
    contract = buy(user.trading_accounts.get(), market, stake="10.00", duration=1)
    write_ticks(market, "100.00", "101.00")
    contracts_settle()
    return Contract.objects.get(pk=contract.pk)


def _assert_clean(watched: Watched, what: str):
    assert watched.take_errors() == [], f"console errors on {what}"
    assert watched.violations() == [], f"CSP violations on {what}"


def test_a_partner_shares_their_link_a_visitor_signs_up_wins_and_the_partner_sees_the_markup(
    browser, live_stack, django_user_model
):
    from allauth.account.models import EmailAddress

    from apps.accounts.services import account_open_demo
    from apps.revenue.services import partner_code_set, partner_for

    owner = django_user_model.objects.create_user("alice@example.com", PASSWORD)
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    account_open_demo(user=owner)
    partner_for(owner)
    partner_code_set(user=owner, code="alice_fx")

    # The partner, on a desktop, opens the referrals page from the menu and copies the link.
    partner = Watched(browser, live_stack.url, VIEWPORTS["desktop"])
    partner.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_stack.url)
    partner.sign_in(owner.email)
    page = partner.page
    page.get_by_role("link", name="Referrals").click()
    page.wait_for_url("**/referrals/")
    expect(page.get_by_test_id("referral-code")).to_have_text("alice_fx")
    expect(page.get_by_test_id("no-markups")).to_be_visible()
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_test_id("copy-status")).to_have_text("Copied!")
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == f"{live_stack.url}/r/alice_fx/"
    _assert_clean(partner, "the partner's referrals page")

    # A new visitor, on a phone, follows the link and signs up by email.
    visitor = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    vpage = visitor.page
    vpage.goto(link)
    vpage.wait_for_url("**/accounts/signup/?ref=alice_fx")
    vpage.fill("input[name=email]", "new.trader@example.com")
    vpage.fill("input[name=password1]", PASSWORD)
    vpage.fill("input[name=password2]", PASSWORD)
    vpage.get_by_role("button", name="Sign Up").click()
    expect(vpage.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    vpage.goto(_confirmation_link(live_stack.mail_dir))
    vpage.get_by_role("button", name="Confirm").click()
    vpage.wait_for_url(HOME)
    _assert_clean(visitor, "the visitor's sign-up")
    assert not [c for c in visitor.context.cookies() if c["name"] == "nexus_ref" and c["value"]]

    trader = django_user_model.objects.get(email="new.trader@example.com")
    assert trader.referral.partner.code == "alice_fx"

    # The trader wins: the partner's markup is 10% of the 8.00 profit.
    contract = off_the_loop(_a_winning_contract, trader)
    assert contract.markup is not None and str(contract.markup) == "0.80"

    page.reload()
    row = page.get_by_test_id("markup-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"#{contract.pk}")
    expect(row).to_contain_text("ne***@ex***.com")
    expect(row).to_contain_text("0.80 USD (demo)")
    expect(page.get_by_test_id("earned-total")).to_have_text("0.80")
    expect(page.get_by_test_id("stat-signups")).to_have_text("1")
    expect(page.get_by_test_id("stat-conversion")).to_have_text("100.0%")
    expect(page.get_by_test_id("referred-traders")).to_contain_text("ne***@ex***.com")
    expect(page.get_by_test_id("earnings-chart").locator("canvas").first).to_be_visible()
    assert "new.trader@example.com" not in page.content()
    _assert_clean(partner, "the referrals page with an earning")

    # The same page on a phone: it fits, the chart draws, and Copy still answers.
    page.set_viewport_size(VIEWPORTS["phone"])
    page.reload()
    page.wait_for_load_state("networkidle")
    assert partner.overflow() == 0
    expect(page.get_by_test_id("earnings-chart").locator("canvas").first).to_be_visible()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Referrals")).to_have_attribute("aria-current", "page")
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_test_id("copy-status")).to_have_text("Copied!")
    _assert_clean(partner, "the referrals page on a phone")

    visitor.close()
    partner.close()


def test_without_clipboard_access_copy_selects_the_link(browser, live_stack, django_user_model):
    from allauth.account.models import EmailAddress

    owner = django_user_model.objects.create_user("bob@example.com", PASSWORD)
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)

    watched = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    watched.sign_in(owner.email)
    page = watched.page
    # No clipboard: as on a page served over plain HTTP from another host.
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
    page.goto("/referrals/")
    page.get_by_role("button", name="Get my referral link").click()
    expect(page.get_by_test_id("referral-code")).to_be_visible()
    code = page.get_by_test_id("referral-code").text_content()
    assert owner.__class__.objects.get(pk=owner.pk).partner.code == code
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_test_id("copy-status")).to_contain_text("Selected")
    selected = page.locator("#referral-link").evaluate("i => i.value.slice(i.selectionStart, i.selectionEnd)")
    assert selected.endswith(f"/r/{code}/")
    assert watched.overflow() == 0
    _assert_clean(watched, "the referrals page without a clipboard")
    watched.close()
