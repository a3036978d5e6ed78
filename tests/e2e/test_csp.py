"""In a real browser, no page breaks the Content-Security-Policy: not on load, not when htmx swaps a fragment."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_pages_and_htmx_swaps_break_no_csp_rule(signed_in):
    page = signed_in
    console = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(WATCH)

    page.goto("/trade/")
    page.fill("input[name=stake]", "5")
    expect(page.locator("#preview")).to_contain_text("9.00")
    page.get_by_role("button", name="Rise").click()
    expect(page.get_by_test_id("bought")).to_contain_text("Bought Rise")
    assert violations(page) == []

    for path in (
        "/trade/history/",
        "/bots/",
        "/bots/new/",
        "/bots/signals/",
        "/bots/backtests/new/",
        "/notifications/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path

    page.goto("/accounts/2fa/")
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    assert violations(page) == []
    assert console == []
