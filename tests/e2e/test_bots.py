"""A trader creates a bot in a real browser, starts it, watches it trade with its reasons, and stops it."""

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_create_start_watch_trades_with_their_reasons_and_stop(signed_in):
    page = signed_in
    page.get_by_role("link", name="Bots", exact=True).click()
    page.wait_for_url("**/bots/")
    page.get_by_role("link", name="New bot").click()
    page.wait_for_url("**/bots/new/")

    page.fill("input[name=name]", "Quick scalper")
    page.select_option("select[name=market]", label="EUR/USD OTC")
    # Scalping alone on a short window, trading on any vote: a trade within a few ticks.
    for name in ("momentum", "breakout", "dual_rsi"):
        page.uncheck(f"#strategy-{name}")
    page.fill("input[name=scalping-ticks]", "2")
    page.fill("input[name=scalping-min_streak]", "1")
    page.fill("input[name=scalping-lookback]", "5")
    page.fill("input[name=min_agreeing]", "1")
    page.fill("input[name=min_confidence]", "0")
    page.fill("input[name=duration]", "1")
    page.get_by_role("button", name="Create bot").click()

    page.wait_for_url(re.compile(r".*/bots/\d+/$"))
    status = page.get_by_test_id("bot-status")
    expect(status).to_contain_text("Stopped")
    page.get_by_role("button", name="Start").click()
    expect(status).to_contain_text("Running")

    # Trades appear without a reload, each with its explanation.
    page.evaluate("window.notReloaded = true")
    newest = page.get_by_test_id("bot-trade").first
    expect(newest).to_be_visible(timeout=30_000)
    # The explanation opens on demand, and stays open while new trades reload the table.
    trade = page.locator(f'[data-row="{newest.get_attribute("data-row")}"]')
    trade.locator("summary").click()
    expect(trade.get_by_test_id("trade-votes")).to_contain_text("scalping")
    expect(trade.get_by_test_id("trade-consensus")).to_contain_text("strategies voted")
    expect(trade.get_by_test_id("trade-regime")).to_contain_text(re.compile("Bullish|Bearish|Sideways"))
    expect(trade.get_by_test_id("trade-stake")).to_contain_text("1.00")
    expect(page.get_by_test_id("bot-trades-today")).not_to_have_text("0")
    assert page.evaluate("window.notReloaded") is True

    page.get_by_role("button", name="Stop").click()
    expect(status).to_contain_text("Stopped: stopped by you")
    expect(page.get_by_role("button", name="Start")).to_be_visible()

    # The list says the same.
    page.get_by_role("link", name="Bots", exact=True).click()
    expect(page.get_by_test_id("bot-card")).to_contain_text("Quick scalper")
    expect(page.get_by_test_id("bot-status")).to_contain_text("Stopped: stopped by you")


def test_an_invalid_bot_form_answers_422_and_shows_its_errors_in_place(signed_in):
    page = signed_in
    page.goto("/bots/new/")
    page.fill("input[name=name]", "Too long a bet")
    page.fill("input[name=duration]", "11")
    # Checked as the trader leaves the field: the 422's error slots are swapped in out of band.
    page.locator("input[name=duration]").press("Tab")
    expect(page.locator("#error-duration")).to_have_text("Tick contracts last 1 to 10 ticks.")

    page.evaluate("document.getElementById('bot-form').dataset.before = 'submit'")
    with page.expect_response(lambda r: r.request.method == "POST" and r.status == 422):
        page.get_by_role("button", name="Create bot").click()
    # The form the 422 answered with replaced the one submitted, its error in place.
    expect(page.locator("#bot-form")).not_to_have_attribute("data-before", "submit")
    expect(page.locator("#error-duration")).to_have_text("Tick contracts last 1 to 10 ticks.")
    assert page.url.endswith("/bots/new/")


def test_a_generated_backtest_reaches_its_report_and_equity_chart(signed_in):
    page = signed_in
    page.get_by_role("link", name="Backtests").click()
    page.get_by_role("link", name="New backtest").click()
    page.wait_for_url("**/bots/backtests/new/")
    page.fill("input[name=name]", "Seeded check")
    page.fill("input[name=seed]", "3")
    page.fill("input[name=length]", "1500")
    page.get_by_role("button", name="Run backtest").click()

    page.wait_for_url(re.compile(r".*/bots/backtests/\d+/$"), timeout=60_000)
    expect(page.get_by_test_id("progress")).to_have_attribute("value", "100", timeout=30_000)
    expect(page.get_by_test_id("report-trades")).to_be_visible()
    expect(page.locator("#equity-chart canvas").first).to_be_attached()


def test_a_submit_right_after_a_change_is_not_cut_off_by_that_fields_check(signed_in):
    # A changed field asks the server to check the form a moment after it loses focus, which
    # is when the trader clicks the button. On a slow server that check comes while the submit
    # is still on its way: it must give way to the submit, never abort it.
    page = signed_in
    page.goto("/bots/backtests/new/")

    def slow_submit(route):
        if "validate=1" not in (route.request.post_data or ""):
            time.sleep(1)
        route.continue_()

    page.route("**/bots/backtests/new/", slow_submit)
    page.fill("input[name=name]", "Slow server")
    page.fill("input[name=seed]", "5")
    page.fill("input[name=length]", "300")
    page.get_by_role("button", name="Run backtest").click()

    page.wait_for_url(re.compile(r".*/bots/backtests/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Slow server")


def test_the_signals_monitor_updates_every_market_live(signed_in, settings, redis_url):
    # The page tells the feed (here, in this process) that someone watches, through the shared cache.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    page = signed_in
    page.get_by_role("link", name="Signals").click()
    page.wait_for_url("**/bots/signals/")
    page.evaluate("window.notReloaded = true")
    # The page's socket follows the first market from its URL and subscribes to the others
    # itself: sections other than the first get new decisions pushed too.
    sections = page.get_by_test_id("signals")
    count = sections.count()
    assert count >= 2
    for i in (0, count - 1):
        section = sections.nth(i)
        before = section.get_attribute("data-seq")
        expect(section).to_have_attribute("data-seq", re.compile(r"\d+"), timeout=20_000)
        if before:
            expect(section).not_to_have_attribute("data-seq", before, timeout=20_000)
        expect(section.get_by_test_id("signal-vote").first).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
