"""In a real browser: the bot page's P&L chart and its trades' explanations, and comparing backtests on one chart.

Both without a console error or a Content-Security-Policy violation.
"""

import re
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _watch(page) -> list[str]:
    """Console errors (htmx's oobErrorNoTarget among them: a pushed fragment the page does not show)."""
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(WATCH)
    return errors


def test_the_bot_page_charts_its_cumulative_pnl_and_explains_a_trade_on_demand(signed_in):
    from apps.accounts.models import TradingAccount
    from apps.bots.engine.config import DecisionConfig
    from apps.bots.models import BotTrade
    from apps.bots.services import bot_create, bot_start, bot_stop
    from apps.markets.models import Market

    page = signed_in
    errors = _watch(page)
    user = page.user
    # Scalping alone on a short window, trading on any vote: trades within a few ticks, settled a tick later.
    decision = DecisionConfig({"scalping": {"ticks": 2, "min_streak": 1, "lookback": 5}}, 1, Decimal("0"))
    bot = bot_create(
        user=user,
        decision=decision,
        settings={
            "name": "Chart check",
            "account": TradingAccount.objects.get(user=user),
            "market": Market.objects.get(symbol="OTC_EUR_USD"),
            "blocked_regimes": [],
            "duration": 1,
            "duration_unit": "t",
            "max_consecutive_losses": 1000,
            "max_drawdown_pct": Decimal("100"),
        },
    )
    bot_start(user=user, bot_id=bot.pk)
    deadline = time.monotonic() + 60
    while BotTrade.objects.filter(bot=bot, contract__settled_at__isnull=False).count() < 3:
        assert time.monotonic() < deadline, "the bot settled no trades"
        time.sleep(0.5)
    # Stopped and fully settled, the trade list receives no more pushes while a row is opened.
    bot_stop(user=user, bot_id=bot.pk)
    while BotTrade.objects.filter(bot=bot, contract__settled_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the bot's last trade never settled"
        time.sleep(0.5)

    page.goto(f"/bots/{bot.pk}/")
    expect(page.locator("#bot-pnl-chart canvas").first).to_be_attached()
    row = page.get_by_test_id("bot-trade").last
    votes = row.get_by_test_id("trade-votes")
    expect(votes).to_be_hidden()
    row.get_by_text("Why").click()
    expect(votes).to_be_visible()
    expect(votes).to_contain_text("scalping")
    expect(row.get_by_test_id("trade-stake")).to_contain_text("1.00")
    assert page.evaluate("window.__cspViolations") == []
    assert errors == []


def test_two_backtests_compare_on_one_chart_with_the_better_values_marked(signed_in):
    page = signed_in
    errors = _watch(page)
    ids = []
    for name, seed in (("Seed three", "3"), ("Seed four", "4")):
        page.goto("/bots/backtests/new/")
        page.fill("input[name=name]", name)
        page.fill("input[name=seed]", seed)
        page.fill("input[name=length]", "1500")
        page.fill("input[name=min_agreeing]", "1")
        page.fill("input[name=min_confidence]", "0.3")
        page.get_by_role("button", name="Run backtest").click()
        page.wait_for_url(re.compile(r".*/bots/backtests/\d+/$"), timeout=60_000)
        expect(page.get_by_test_id("progress")).to_have_attribute("value", "100", timeout=30_000)
        ids.append(int(page.url.rstrip("/").rsplit("/", 1)[1]))
    # The report lists its simulated contracts and its days.
    expect(page.get_by_test_id("backtest-days")).to_be_visible()

    page.goto("/bots/backtests/")
    for pk in ids:
        page.locator(f"input[name=compare][value='{pk}']").check()
    page.get_by_role("button", name=re.compile("Compare selected")).click()
    page.wait_for_url(re.compile(r".*compare=.*"))
    expect(page.locator("#compare-chart canvas").first).to_be_attached()
    expect(page.get_by_test_id("compare-legend")).to_contain_text("Seed three")
    expect(page.get_by_test_id("compare-legend")).to_contain_text("Seed four")
    assert page.get_by_test_id("compare-best").count() >= 1
    assert page.evaluate("window.__cspViolations") == []
    assert errors == []
