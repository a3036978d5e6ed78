"""The history page's filters in a real browser: changed with htmx, and refused next to the field when wrong."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_an_end_date_before_the_start_date_is_refused_next_to_the_field(signed_in):
    page = signed_in
    page.get_by_role("link", name="History").click()
    page.wait_for_url("**/trade/history/")

    page.fill("input[name=date_from]", "2026-02-02")
    page.fill("input[name=date_to]", "2026-01-01")
    page.locator("input[name=date_to]").press("Tab")

    expect(page.locator("#id_date_to_error")).to_have_text("The end date is before the start date.")
    expect(page.get_by_test_id("filters-invalid")).to_be_visible()

    # Fixed, the error goes and the results come back.
    page.fill("input[name=date_to]", "2026-03-01")
    page.locator("input[name=date_to]").press("Tab")
    expect(page.locator("#id_date_to_error")).to_have_text("")
    expect(page.get_by_test_id("stat-trades")).to_have_text("0")

    # Loaded directly, the same.
    page.goto("/trade/history/?date_from=2026-02-02&date_to=2026-01-01")
    expect(page.locator("#id_date_to_error")).to_have_text("The end date is before the start date.")
