"""Settings in a real browser: every section at a phone's and a desktop's width, two-factor set up from the
Security section and used to sign in, a self-exclusion refusing a trade, and the confirmation before buying."""

import pytest
from playwright.sync_api import expect

from .walk import PASSWORD, VIEWPORTS, Watched, _verified_user

pytestmark = pytest.mark.e2e

SECTIONS = ("profile", "security", "trading", "responsible-trading")


def trader(browser, live_stack, django_user_model, size: str, email="settings@example.com", **extra) -> Watched:
    from apps.accounts.services import account_open_demo

    user = _verified_user(django_user_model, email, **extra)
    account_open_demo(user=user)
    watched = Watched(browser, live_stack.url, VIEWPORTS[size])
    watched.sign_in(user.email)
    watched.user = user
    return watched


def problems_of(watched: Watched, label: str) -> list[str]:
    found = [f"{label}: CSP {v}" for v in watched.violations()]
    found += [f"{label}: {e}" for e in watched.take_errors()]
    if (over := watched.overflow()) > 0:
        found.append(f"{label}: {over} px wider than the screen")
    return found


@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_section_fits_saves_and_refuses_bad_input_next_to_the_field(
    browser, live_stack, running_feed, django_user_model, size
):
    watched = trader(browser, live_stack, django_user_model, size)
    page, problems = watched.page, []
    for section in SECTIONS:
        watched.visit(f"/settings/{section}/")
        expect(page.locator("nav.settings-nav a[aria-current=page]")).to_be_visible()
        problems += problems_of(watched, f"{size} {section}")

    watched.visit("/settings/profile/")
    page.select_option("select[name=time_zone]", "Asia/Tokyo")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Profile saved")).to_be_visible()
    expect(page.get_by_test_id("local-now")).to_contain_text("JST")

    watched.visit("/settings/responsible-trading/")
    page.fill("input[name=daily_loss_limit]", "-5")
    page.fill("input[name=daily_stake_limit]", "10.123")
    page.get_by_role("button", name="Save limits").click()
    expect(page.locator("#error-daily_loss_limit")).to_contain_text("0 or more")
    expect(page.locator("#error-daily_stake_limit")).to_contain_text("two decimal places")
    problems += problems_of(watched, f"{size} responsible errors")
    watched.close()
    assert not problems, "\n".join(problems)


def test_two_factor_set_up_from_the_security_section_then_signing_in_with_it(
    browser, live_stack, running_feed, django_user_model
):
    from tests.support.mfa import totp_code

    watched = trader(browser, live_stack, django_user_model, "desktop")
    page = watched.page
    watched.visit("/settings/security/")
    page.get_by_test_id("totp-activate").click()
    page.wait_for_url(lambda url: "/settings/" not in url)
    if "/reauthenticate/" in page.url:
        # allauth may ask for the password again before a security change.
        page.fill("input[name=password]", PASSWORD)
        page.locator("input[name=password]").press("Enter")
    page.wait_for_url("**/2fa/totp/activate/**")
    secret = page.locator("#authenticator_secret").input_value()
    page.fill("input[name=code]", totp_code(secret))
    page.locator("input[name=code]").press("Enter")
    page.wait_for_url(lambda url: "/totp/activate" not in url)
    watched.visit("/settings/security/")
    expect(page.get_by_test_id("totp-on")).to_be_visible()
    problems = problems_of(watched, "security with two-factor")

    page.locator("form.signout button").click()
    page.wait_for_url(lambda url: "/trade/" not in url)
    page.goto("/accounts/login/")
    page.fill("input[name=login]", watched.user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url("**/2fa/authenticate/**")
    page.fill("input[name=code]", totp_code(secret))
    page.locator("input[name=code]").press("Enter")
    page.wait_for_url(lambda url: "/accounts/" not in url)
    watched.visit("/settings/security/")
    expect(page.get_by_test_id("sessions")).to_contain_text("This browser")
    watched.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_a_self_exclusion_shows_its_banner_and_refuses_a_trade(
    browser, live_stack, running_feed, django_user_model, size
):
    from apps.trading.models import Contract

    watched = trader(browser, live_stack, django_user_model, size)
    page = watched.page
    watched.visit("/settings/responsible-trading/")
    page.select_option("select[name=period]", "1d")
    page.get_by_test_id("pause-submit").click()
    expect(page.locator("#error-confirm")).to_be_visible()  # the box must be ticked first
    page.check("input[name=confirm]")
    page.get_by_test_id("pause-submit").click()
    expect(page.get_by_test_id("self-exclusion-banner")).to_be_visible()
    expect(page.get_by_test_id("exclusion-in-force")).to_be_visible()

    watched.visit("/trade/")
    expect(page.get_by_test_id("self-exclusion-banner")).to_be_visible()
    page.locator("#order-form input[name=stake]").fill("1")
    page.locator("#order-form button[value=RISE]").click()
    expect(page.locator("#order-form")).to_contain_text("You paused your trading until")
    problems = problems_of(watched, f"{size} trade while excluded")
    watched.close()
    assert not problems, "\n".join(problems)
    assert not Contract.objects.exists()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_ask_before_buying_opens_a_dialog_and_buys_on_yes(browser, live_stack, running_feed, django_user_model, size):
    from apps.trading.models import Contract

    watched = trader(browser, live_stack, django_user_model, size, confirm_purchases=True)
    page = watched.page
    watched.visit("/trade/")
    page.locator("#order-form input[name=stake]").fill("2")
    page.locator("#order-form button[value=FALL]").click()
    dialog = page.locator("#buy-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Fall")
    expect(dialog).to_contain_text("2")
    assert not Contract.objects.exists()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not Contract.objects.exists()

    page.locator("#order-form button[value=FALL]").click()
    dialog.get_by_test_id("buy-dialog-confirm").click()
    expect(page.get_by_test_id("bought")).to_be_visible()
    assert Contract.objects.get().direction == "FALL"
    problems = problems_of(watched, f"{size} confirm dialog")
    watched.close()
    assert not problems, "\n".join(problems)
