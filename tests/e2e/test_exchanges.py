"""In a real browser: the paper exchange, a spot bot made through its form, a position it opens and its stop-loss
closes, each shown live with its explanation; the pages fit a phone without a console error or CSP violation."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from .walk import VIEWPORTS, Watched, _verified_user

pytestmark = pytest.mark.e2e


def decide(market) -> int:
    """What the worker does when a pair has a new closed candle: every running bot on it acts."""
    from apps.exchanges.services import cycle

    return cycle.bots_decide(market_id=market.pk, timeframe="1m")


def test_a_spot_bot_opens_a_position_and_its_stop_loss_closes_it_live_with_their_reasons(
    browser, live_stack, django_user_model
):
    from apps.exchanges.models import Candle, PositionStatus, SpotPosition
    from tests.exchanges.conftest import candles_store, rising
    from tests.exchanges.support import spot_market

    user = _verified_user(django_user_model, "spot@example.com")
    market = spot_market()
    candles_store(market, rising(900))

    desktop = Watched(browser, live_stack.url, VIEWPORTS["desktop"])
    desktop.sign_in(user.email)
    page = desktop.page
    page.on("dialog", lambda dialog: dialog.accept())

    # The first visit opens the paper exchange.
    page.get_by_role("link", name="Exchanges").click()
    page.wait_for_url("**/exchanges/")
    paper = page.get_by_test_id("connection")
    expect(paper).to_contain_text("Paper (Binance prices)")
    expect(paper.get_by_test_id("connection-equity")).to_contain_text("10,000.00")

    paper.get_by_role("link", name="Portfolio").click()
    page.wait_for_url(re.compile(r".*/exchanges/\d+/$"))
    portfolio_url = page.url
    expect(page.get_by_test_id("portfolio-equity")).to_contain_text("10,000.00")
    expect(page.get_by_test_id("no-open-positions")).to_be_visible()

    # A bot through its form, on the connection the portfolio page named.
    page.get_by_role("link", name="New bot").click()
    page.wait_for_url("**/exchanges/bots/new/?connection=*")
    page.fill("input[name=name]", "Climber")
    page.select_option("select[name=market]", label="BTC/USDT (Binance)")
    page.uncheck("input[name=strategies][value=dual_rsi]")
    page.fill("input[name=min_agreeing]", "1")
    page.fill("input[name=min_confidence]", "0.10")
    expect(page.get_by_test_id("fixed-limits")).to_contain_text("50 trades a day")
    page.get_by_role("button", name="Create bot").click()
    page.wait_for_url(re.compile(r".*/exchanges/bots/\d+/$"))
    status = page.get_by_test_id("spot-bot-status")
    expect(status).to_contain_text("Stopped")
    page.get_by_role("button", name="Start").click()
    expect(status).to_contain_text("Running")
    expect(page.get_by_test_id("spot-bot-paused")).to_have_count(0)

    # The bot buys on the next candle: the portfolio shows it without a reload.
    page.goto(portfolio_url)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.notReloaded = true")
    assert decide(market) == 1
    position = SpotPosition.objects.get(connection__user=user)
    row = page.get_by_test_id("open-position")
    expect(row).to_contain_text("BTC/USDT")
    expect(row).to_contain_text("Climber")
    expect(row.get_by_test_id("position-pnl")).to_have_text(re.compile(r"[+-]\d+\.\d\d"))
    row.locator("summary").click()
    expect(row.get_by_test_id("explain-votes")).to_contain_text("momentum")
    expect(row.get_by_test_id("explain-decision")).to_contain_text("RISE")
    expect(row.get_by_test_id("explain-regime")).to_contain_text(re.compile("Bullish|Sideways"))
    expect(page.get_by_test_id("order")).to_contain_text("Filled")
    assert page.evaluate("window.notReloaded") is True

    # A candle below its stop-loss: the bot sells, and the trade moves to the closed ones with its result.
    last = Candle.objects.filter(market=market, timeframe="1m").latest("opened_at")
    candles_store(market, [float(position.stop_price) * 0.99], end=last.opened_at + timedelta(minutes=2))
    assert decide(market) == 1
    expect(page.get_by_test_id("no-open-positions")).to_be_visible()
    closed = page.get_by_test_id("closed-position")
    expect(closed).to_contain_text("reached the stop-loss")
    expect(closed.get_by_test_id("realised-pnl")).to_have_text(re.compile(r"-\d+\.\d\d"))
    closed.locator("summary").click()
    expect(closed.get_by_test_id("explain-votes")).to_contain_text("breakout")
    expect(page.locator("#equity-chart canvas").first).to_be_attached()
    assert page.evaluate("window.notReloaded") is True
    assert SpotPosition.objects.get(pk=position.pk).status == PositionStatus.CLOSED
    assert desktop.violations() == []
    assert desktop.take_errors() == []
    desktop.close()

    # On a phone every exchange page fits the screen.
    phone = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    phone.sign_in(user.email)
    bot_url = f"/exchanges/bots/{position.bot_id}/"
    for path in ("/exchanges/", portfolio_url, "/exchanges/bots/new/", bot_url):
        phone.visit(path)
        assert phone.overflow() <= 0, f"{path} is {phone.overflow()} px wider than a phone"
        assert phone.violations() == [], path
        assert phone.take_errors() == [], path
    phone.close()


def test_a_positions_close_button_and_close_all_sell_at_market(browser, live_stack, django_user_model):
    from decimal import Decimal

    from apps.exchanges.models import Purpose, Side
    from apps.exchanges.services.connections import paper_connection
    from apps.exchanges.services.orders import order_send
    from tests.exchanges.support import spot_market

    user = _verified_user(django_user_model, "closer@example.com")
    market = spot_market()
    paper = paper_connection(user=user)
    for client_id in ("e1", "e2"):
        order_send(
            connection=paper,
            market=market,
            side=Side.BUY,
            amount=Decimal("0.01"),
            purpose=Purpose.OPEN,
            client_id=client_id,
        )

    watched = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    watched.sign_in(user.email)
    page = watched.page
    page.on("dialog", lambda dialog: dialog.accept())
    watched.visit(f"/exchanges/{paper.pk}/")
    expect(page.get_by_test_id("open-position")).to_have_count(2)
    page.get_by_test_id("close-position").first.click()
    expect(page.get_by_text("1 position sold at market.")).to_be_visible()
    expect(page.get_by_test_id("open-position")).to_have_count(1)
    expect(page.get_by_test_id("closed-position")).to_have_count(1)
    page.get_by_test_id("close-all").click()
    expect(page.get_by_test_id("open-position")).to_have_count(0)
    expect(page.get_by_test_id("no-open-positions")).to_be_visible()
    closed = page.get_by_test_id("closed-position").first
    expect(page.get_by_test_id("closed-position")).to_have_count(2)
    expect(closed).to_contain_text("Closed at market by the trader.")
    closed.locator("summary").click()
    expect(closed.get_by_test_id("explain-closed")).to_contain_text("Closed at market by the trader.")
    assert watched.overflow() <= 0
    assert watched.violations() == [] and watched.take_errors() == []
    watched.close()


def test_a_spot_bots_backtest_on_recorded_candles_shows_its_trades(browser, live_stack, django_user_model):
    from apps.exchanges.services.connections import paper_connection
    from tests.exchanges.conftest import candles_store, rising
    from tests.exchanges.support import spot_bot_make, spot_market

    user = _verified_user(django_user_model, "tester@example.com")
    market = spot_market()
    closes = rising(900)
    candles_store(market, closes + [closes[-1] * (1 - 0.001 * i) for i in range(1, 60)])
    bot = spot_bot_make(user, paper_connection(user=user), market)

    watched = Watched(browser, live_stack.url, VIEWPORTS["phone"])
    watched.sign_in(user.email)
    page = watched.page
    watched.visit(f"/exchanges/bots/{bot.pk}/")
    section = page.get_by_test_id("spot-backtest")
    section.locator("input[name=days]").fill("9")
    section.get_by_role("button", name="Run the backtest").click()
    expect(section.locator("[data-error-for=days]")).to_contain_text("between 1 and 7")
    # The refusal is answered 422 (as every refused form is), which Chromium logs as a failed load.
    assert [e for e in watched.take_errors() if "status of 422" not in e] == []
    section.locator("input[name=days]").fill("1")
    section.get_by_role("button", name="Run the backtest").click()
    expect(page.get_by_test_id("backtest-report")).to_contain_text("959")
    trade = page.get_by_test_id("backtest-trade").first
    trade.locator("summary").click()
    expect(trade).to_contain_text("buying 5")
    assert watched.overflow() <= 0
    assert watched.violations() == [] and watched.take_errors() == []
    watched.close()
