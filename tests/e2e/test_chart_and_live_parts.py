"""The trade page's chart and live parts in a real browser: precision, contract lines and markers,
live positions, the contract page's chart, and pages that only get the fragments they show."""

import re
import threading
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

# htmx reports a pushed fragment that has no place on the page as an `htmx:oobErrorNoTarget`
# event (and a console error): record both from the first script on.
WATCH = """
window.__oobErrors = [];
window.__wsMessages = 0;
document.addEventListener("htmx:wsAfterMessage", () => { window.__wsMessages += 1; });
document.addEventListener("htmx:oobErrorNoTarget", (e) => {
  window.__oobErrors.push((e.detail && e.detail.content && e.detail.content.id) || "?");
}, true);
"""


def wait_until(page, expression: str, timeout_s: float = 15) -> None:
    """Poll a page expression until it is true (wait_for_function evaluates a string, which the CSP refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false: {expression}"
        page.wait_for_timeout(100)


def off_the_loop(function, *args, **kwargs) -> None:
    """Run a service that pushes from its own thread, as the worker does: this thread runs Playwright's
    event loop, where the channel layer's `async_to_sync` refuses to run."""
    from django.db import connection

    def run():
        try:
            function(*args, **kwargs)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()


def test_chart_precision_contract_lines_markers_live_positions_and_the_contract_chart(signed_in):
    from apps.markets.models import Market
    from apps.trading.models import Contract, Status
    from apps.trading.services import contract_buy

    page = signed_in
    page.goto("/trade/?market=OTC_EUR_USD")
    page.evaluate("window.nexusChart.ready()")
    # Bug 2: EUR/USD has five decimals, and so has the chart's price axis.
    assert page.evaluate("window.nexusChart.priceFormat()") == {"type": "price", "precision": 5, "minMove": 0.00001}
    assert page.evaluate("window.nexusChart.formatPrice(1.0912345)") == "1.09123"

    page.fill("input[name=stake]", "10")
    page.fill("input[name=duration]", "8")
    page.get_by_role("button", name="Rise").click()
    row = page.get_by_test_id("position").first
    expect(row).to_be_visible()
    expect(row.get_by_test_id("position-source")).to_have_text("Manual")
    contract = Contract.objects.get()
    expect(row.get_by_test_id("position-link")).to_have_attribute("href", f"/trade/contracts/{contract.pk}/")

    # Once the entry tick is in: a line at the entry spot, and the row says where it stands now.
    wait_until(page, "window.nexusChart.priceLines().length === 1")
    entry = Market.objects.get(symbol="OTC_EUR_USD").ticks.get(seq=contract.purchase_seq + 1).price
    line = page.evaluate("window.nexusChart.priceLines()[0]")
    assert line["price"] == pytest.approx(float(entry)) and f"#{contract.pk}" in line["title"]
    expect(row).to_have_class(re.compile(r"position--(winning|losing|tie)"))
    expect(row.get_by_test_id("position-pnl")).to_have_text(re.compile(r"^[+-]\d+\.\d\d$"))
    progress = row.locator("progress.to-expiry")
    expect(progress).to_have_attribute("max", "8")
    wait_until(page, "document.querySelector('#positions progress.to-expiry').value >= 2")

    # Settled: no line, an exit marker; the contract page charts its ticks with entry and exit.
    expect(page.locator("#positions tr[data-status]")).to_have_count(1, timeout=20_000)
    wait_until(page, "window.nexusChart.priceLines().length === 0")
    wait_until(page, "window.nexusChart.markers().some((m) => m.shape === 'circle')")

    # Many contracts bought at once pile up no more: one marker per bar and kind, at most 40.
    account = contract.account
    for i in range(45):
        contract_buy(
            user=page.user,
            account=account,
            market=contract.market,
            direction="FALL",
            stake=Decimal("1.00"),
            duration=1,
            duration_unit="t",
            idempotency_key=f"pile-{i}",
        )
    page.reload()
    page.evaluate("window.nexusChart.ready()")
    wait_until(page, "window.nexusChart.markers().some((m) => /^\\d+×$/.test(m.text))")
    assert page.evaluate("window.nexusChart.markers().length") <= 40

    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST, Status.TIE)
    page.goto(f"/trade/contracts/{contract.pk}/")
    expect(page.get_by_test_id("contract-chart")).to_be_visible()
    assert page.evaluate("window.nexusContractChart.priceFormat().precision") == 5
    assert [m["text"] for m in page.evaluate("window.nexusContractChart.markers()")] == ["Entry", "Exit"]
    assert page.evaluate("window.nexusContractChart.points()") >= 2
    expect(page.get_by_test_id("timeline").locator("li.done")).to_have_count(4)
    expect(page.get_by_test_id("ledger-moves").locator("tbody tr").first).to_contain_text("Contract stake")


def test_pages_get_no_fragment_they_do_not_show_and_pushed_bot_status_keeps_the_right_button(signed_in):
    from apps.bots.engine.config import DecisionConfig
    from apps.bots.services import bot_create, bot_start, bot_stop
    from apps.markets.models import Market

    page = signed_in
    user = page.user
    account = user.trading_accounts.get()
    market = Market.objects.get(symbol="OTC_EUR_USD")

    busy = DecisionConfig({"scalping": {"ticks": 2, "min_streak": 1, "lookback": 5}}, 1, Decimal("0"))
    # All four strategies agreeing with full confidence: it hardly ever trades, and never hits a limit.
    quiet = DecisionConfig({"scalping": {}, "momentum": {}, "breakout": {}, "dual_rsi": {}}, 4, Decimal("1"))

    def bot(name, market, config=busy):
        settings = {
            "name": name,
            "account": account,
            "market": market,
            "blocked_regimes": [],
            "duration": 1,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        }
        made = bot_create(user=user, decision=config, settings=settings)
        bot_start(user=user, bot_id=made.pk)
        return made

    # Scalping alone, on any vote: it trades every few ticks, so pushes keep coming.
    trader = bot("Busy", market)
    other = bot("Elsewhere", Market.objects.get(symbol="OTC_GOLD"), quiet)
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.add_init_script(WATCH)

    def push_state():
        # As the worker does after a trade.
        from apps.realtime.push import push_user_state

        off_the_loop(push_user_state, [user.pk])

    for path in ("/trade/", "/bots/signals/", "/bots/", f"/bots/{trader.pk}/", "/trade/history/"):
        page.goto(path)
        # Ticks, signals (the busy bot's market is decided on every tick) and the trader's whole state reach the page.
        page.wait_for_timeout(1500)
        received = page.evaluate("window.__wsMessages")
        push_state()
        wait_until(page, f"window.__wsMessages > {received}", timeout_s=5)
        page.wait_for_timeout(1000)
        assert page.evaluate("window.__oobErrors") == [], path
    assert not [text for text in console if "oobErrorNoTarget" in text]

    # Bug 4: the pushed status holds no form; the page's Start/Stop follow it.
    page.goto(f"/bots/{other.pk}/")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(page.get_by_role("button", name="Start")).to_be_hidden()
    off_the_loop(bot_stop, user=user, bot_id=other.pk)
    expect(page.get_by_test_id("bot-status")).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_test_id("bot-status")).to_contain_text("Running")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    assert page.evaluate("window.__oobErrors") == []
