"""Every page, at a phone's size (390x844) and a desktop's (1440x900): no horizontal overflow,
no console error, no Content-Security-Policy violation."""

import pytest
from playwright.sync_api import expect

from .walk import VIEWPORTS, Watched, walk_setup

pytestmark = pytest.mark.e2e


def check_pages(watched: Watched, pages, size: str, problems: list[str]) -> None:
    for name, path in pages:
        response = watched.visit(path)
        if name == "deriv" and response.status == 404:
            continue  # Deriv is off in this deployment
        assert response.ok, f"{size} {name} {path}: HTTP {response.status}"
        if (over := watched.overflow()) > 0:
            problems.append(f"{size} {name}: {over} px wider than the screen")
        problems.extend(f"{size} {name}: CSP {v}" for v in watched.violations())
        problems.extend(f"{size} {name}: {e}" for e in watched.take_errors())


@pytest.mark.parametrize("size", VIEWPORTS)
def test_every_page_fits_the_screen_without_errors(browser, live_stack, running_feed, django_user_model, size):
    walk = walk_setup(django_user_model)
    problems: list[str] = []

    trader = Watched(browser, live_stack.url, VIEWPORTS[size])
    trader.sign_in(walk.trader.email)
    check_pages(trader, walk.trader_pages, size, problems)
    trader.close()

    staff = Watched(browser, live_stack.url, VIEWPORTS[size])
    staff.sign_in(walk.staff.email, totp_secret=walk.staff_secret)
    check_pages(staff, walk.staff_pages, size, problems)
    staff.close()

    visitor = Watched(browser, live_stack.url, VIEWPORTS[size])
    check_pages(visitor, walk.visitor_pages, size, problems)
    visitor.close()

    assert not problems, "\n".join(problems)


def test_on_a_phone_the_menu_folds_the_markets_are_a_picker_and_rise_fall_stay_in_view(
    browser, live_stack, running_feed, django_user_model
):
    from apps.accounts.services import account_open_demo

    from .walk import _verified_user

    user = _verified_user(django_user_model, "phone@example.com")
    account_open_demo(user=user)
    phone = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    phone.sign_in(user.email)
    page = phone.page
    phone.visit("/trade/")

    # The menu is folded behind its button; the balance stays in the header.
    menu = page.locator("#topbar-menu")
    assert not menu.is_visible()
    assert page.get_by_test_id("balance").is_visible()
    page.get_by_role("button", name="Menu").click()
    assert page.get_by_role("link", name="History").is_visible()
    page.get_by_role("button", name="Menu").click()
    assert not menu.is_visible()

    # The Rise/Fall bar sits at the bottom of the screen, with the payout of the stake.
    rise = page.locator("button[value=RISE]")
    box = rise.bounding_box()
    assert box["y"] + box["height"] > 844 - 80 and box["y"] + box["height"] <= 844
    page.locator("[data-fill-stake='25']").click()
    expect(page.locator("#payout-rise")).to_have_text("pays 45.00")
    assert page.locator("input[name=stake]").input_value() == "25"

    # Markets are a picker: choosing one opens it.
    assert page.locator(".market-list ul").is_hidden()
    page.select_option("#market-picker", "VOL_10")
    page.wait_for_url("**/trade/?market=VOL_10")
    assert phone.take_errors() == []
    phone.close()
