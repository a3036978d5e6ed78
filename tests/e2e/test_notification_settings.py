"""In a real browser, at phone and desktop widths: Settings → Notifications and an email's unsubscribe link.

Without a console error, a Content-Security-Policy violation or a page wider than the screen.
"""

import pytest
from django.test import override_settings
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1360, "height": 900}}


@pytest.fixture
def live_stack_env():
    """The web process on the Free plan by default: it has no email alerts, and the page says so."""
    return {"DEFAULT_PLAN": "free"}


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_trader_chooses_notifications_then_unsubscribes_from_an_email(signed_in, live_stack, width):
    from apps.notifications.email import unsubscribe_token
    from apps.notifications.models import Channel, NotificationPreferences

    page = signed_in
    page.set_viewport_size(WIDTHS[width])
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(WATCH)

    page.goto("/settings/notifications/")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.get_by_test_id("plan-no-email")).to_contain_text("does not include email alerts")
    expect(page.get_by_test_id("topic-security").get_by_label("Off")).to_have_count(0)
    page.get_by_test_id("topic-daily_summary").get_by_label("In the app and by email").check()
    page.get_by_label("Low-balance alert below").fill("-5")
    page.get_by_role("button", name="Save notifications").click()
    expect(page.locator("[data-error-for=low_balance_threshold]")).to_contain_text("greater than or equal to 0.01")
    assert not NotificationPreferences.objects.filter(user=page.user).exists()
    assert _fits(page)

    page.get_by_label("Low-balance alert below").fill("50")
    page.get_by_role("button", name="Save notifications").click()
    expect(page.get_by_text("Notification preferences saved.")).to_be_visible()
    expect(page.get_by_test_id("topic-daily_summary").get_by_label("In the app and by email")).to_be_checked()
    prefs = NotificationPreferences.objects.get(user=page.user)
    assert prefs.daily_summary == Channel.EMAIL and str(prefs.low_balance_threshold) == "50.00"
    assert _fits(page)

    with override_settings(SECRET_KEY=live_stack.env["SECRET_KEY"]):  # signed as the web process signs
        token = unsubscribe_token(page.user.pk, "daily_summary")
    page.goto(f"/unsubscribe/{token}/")
    expect(page.get_by_text("Stop “Daily summary” emails to trader@example.com?")).to_be_visible()
    assert _fits(page)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_test_id("unsubscribe-done")).to_contain_text("no more “Daily summary” emails")
    assert NotificationPreferences.objects.get(user=page.user).daily_summary == Channel.OFF

    page.goto(f"/unsubscribe/{token[:-2]}xx/")
    expect(page.get_by_test_id("unsubscribe-refused")).to_contain_text("This unsubscribe link is not valid")
    assert _fits(page)
    assert page.evaluate("window.__cspViolations") == []
    assert errors == [] or all("400" in e for e in errors)
