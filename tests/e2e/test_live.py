"""Everything on the trading page moves without a reload, and survives a dropped connection."""

import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def _prices_seen(page, want: int, within_s: float = 10) -> set[str]:
    seen: set[str] = set()
    deadline = time.monotonic() + within_s
    while len(seen) < want and time.monotonic() < deadline:
        seen.add(page.locator("#quote").get_attribute("data-price"))
        page.wait_for_timeout(100)
    return seen


def test_prices_balance_positions_and_settlement_arrive_live(signed_in):
    page = signed_in
    page.evaluate("window.notReloaded = true")
    assert len(_prices_seen(page, 3)) >= 3

    page.fill("input[name=stake]", "10")
    page.fill("input[name=duration]", "3")
    page.get_by_role("button", name="Fall").click()
    expect(page.get_by_test_id("balance")).to_have_text("9,990.00")
    expect(page.locator("#positions tbody tr[data-contract]").first).to_be_visible()

    toast = page.get_by_test_id("toast")
    expect(toast).to_be_visible(timeout=20_000)
    expect(toast).to_contain_text("Fall on EUR/USD OTC")
    expect(page.get_by_test_id("unread")).to_have_text("1")
    expect(page.locator("#positions tr[data-status]")).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True


def test_a_settlement_while_disconnected_shows_after_reconnect(signed_in, live_stack):
    from apps.trading.models import Contract, Status

    page = signed_in
    page.fill("input[name=stake]", "20")
    page.fill("input[name=duration]", "5")
    page.get_by_role("button", name="Rise").click()
    expect(page.get_by_test_id("balance")).to_have_text("9,980.00", timeout=15_000)

    live_stack.stop()  # every socket drops; the feed keeps ticking and settling
    deadline = time.monotonic() + 20
    while Contract.objects.filter(status=Status.OPEN).exists():
        assert time.monotonic() < deadline, "the contract did not settle"
        time.sleep(0.2)
    contract = Contract.objects.get()
    live_stack.start()

    expected = Decimal("9980.00") + contract.amount_paid
    expect(page.get_by_test_id("balance")).to_have_text(f"{expected:,.2f}", timeout=30_000)
    expect(
        page.locator(f'#positions tr[data-contract="{contract.pk}"][data-status="{contract.status}"]')
    ).to_be_visible()


def test_when_the_feed_stops_the_page_shows_prices_paused_and_refuses_trades(signed_in, running_feed):
    page = signed_in
    expect(page.get_by_test_id("price")).to_be_visible()
    running_feed.stop()
    expect(page.get_by_test_id("paused")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="Rise").click()
    expect(page.locator("#market-error")).to_contain_text("paused")
    expect(page.get_by_test_id("balance")).to_have_text("10,000.00")


def test_notifications_list_and_mark_all_read(signed_in):
    page = signed_in
    page.fill("input[name=duration]", "1")
    page.get_by_role("button", name="Rise").click()
    expect(page.get_by_test_id("unread")).to_have_text("1", timeout=20_000)
    page.locator("#bell summary").click()
    expect(page.locator("#bell .bell-menu li.unread")).to_contain_text("Rise on EUR/USD OTC")
    page.get_by_role("link", name="All notifications").click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    page.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_test_id("unread")).to_have_count(0)


def _wait_for_new_price(page, within_s: float = 20) -> None:
    start = page.locator("#quote").get_attribute("data-seq")
    deadline = time.monotonic() + within_s
    while page.locator("#quote").get_attribute("data-seq") == start:
        assert time.monotonic() < deadline, "no new price arrived"
        page.wait_for_timeout(200)


def test_prices_come_back_after_redis_restarts(signed_in, redis_server):
    page = signed_in
    _wait_for_new_price(page)
    redis_server.stop()
    page.wait_for_timeout(1500)
    redis_server.start()
    # The socket was cut with Redis; htmx reconnects, the server resyncs, ticks flow again.
    _wait_for_new_price(page, within_s=40)
    _wait_for_new_price(page)


def _assert_chart_candle_equals_stored(page, feed_thread):
    """Once every tick written has reached the page, its live 1m candle is the stored one."""
    from datetime import UTC, datetime

    from apps.markets.models import Candle, Market

    feed_thread.stop()
    last_seq = Market.objects.get(symbol="OTC_EUR_USD").last_seq
    expect(page.locator("#quote")).to_have_attribute("data-seq", str(last_seq))
    page.evaluate("window.nexusChart.ready()")
    bar = page.evaluate("window.nexusChart.lastBar()")
    stored = Candle.objects.get(
        market__symbol="OTC_EUR_USD", timeframe=60, start=datetime.fromtimestamp(bar["time"], tz=UTC)
    )
    ohlc = [float(stored.open), float(stored.high), float(stored.low), float(stored.close)]
    assert ohlc == [bar["open"], bar["high"], bar["low"], bar["close"]]


def test_the_live_candle_equals_the_stored_one(signed_in, running_feed):
    page = signed_in
    page.get_by_role("button", name="1m").click()
    _wait_for_new_price(page)
    _assert_chart_candle_equals_stored(page, running_feed)


def test_missed_ticks_are_fetched_so_the_candle_stays_exact(signed_in, running_feed):
    from apps.markets.signals import ticks_committed
    from apps.realtime.receivers import ticks_to_markets

    page = signed_in
    page.get_by_role("button", name="1m").click()
    _wait_for_new_price(page)
    ticks_committed.disconnect(dispatch_uid="realtime.push_ticks")  # ticks keep being written, none is pushed
    try:
        page.wait_for_timeout(1500)
    finally:
        ticks_committed.connect(ticks_to_markets, dispatch_uid="realtime.push_ticks")
    _wait_for_new_price(page)  # the next push reveals the gap; the chart fills it from the server
    _assert_chart_candle_equals_stored(page, running_feed)
