"""`scripts/screenshots`: a PNG of every page at a phone's size and a desktop's, into NEXUS_SCREENSHOTS_DIR.

Skipped unless that variable is set (the script sets it): it judges nothing, the walk does.
"""

import os
from pathlib import Path

import pytest

from .walk import VIEWPORTS, Watched, walk_setup

pytestmark = [pytest.mark.e2e, pytest.mark.screenshots]

OUT = os.environ.get("NEXUS_SCREENSHOTS_DIR")


@pytest.mark.skipif(not OUT, reason="scripts/screenshots sets NEXUS_SCREENSHOTS_DIR")
def test_screenshots_of_every_page(browser, live_stack, running_feed, django_user_model):
    out = Path(OUT)
    out.mkdir(parents=True, exist_ok=True)
    walk = walk_setup(django_user_model)
    for size, viewport in VIEWPORTS.items():
        for who, pages in (
            ("trader", walk.trader_pages),
            ("staff", walk.staff_pages),
            ("visitor", walk.visitor_pages),
        ):
            watched = Watched(browser, live_stack.url, viewport)
            if who == "trader":
                watched.sign_in(walk.trader.email)
            elif who == "staff":
                watched.sign_in(walk.staff.email, totp_secret=walk.staff_secret)
            for name, path in pages:
                response = watched.visit(path)
                if response.status == 404:
                    continue  # Deriv off
                watched.page.screenshot(path=str(out / f"{name}-{size}.png"), full_page=True)
                if name == "trade" and size == "phone":
                    # The folded menu, opened; and the same screen as it first shows (not the full page).
                    watched.page.screenshot(path=str(out / f"trade-{size}-screen.png"))
                    watched.page.locator(".menu-button").click()
                    watched.page.screenshot(path=str(out / f"trade-{size}-menu.png"))
            watched.close()
