"""The exchange pages: connections, portfolio, spot bots; every bad input leaves nothing changed."""

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.bots.services import kill_switch_set
from apps.exchanges.fragments import exchange_fragments
from apps.exchanges.models import (
    ConnectionStatus,
    ExchangeConnection,
    OrderStatus,
    PositionStatus,
    Purpose,
    Side,
    SpotBot,
    SpotBotStatus,
    SpotOrder,
    SpotPosition,
)
from apps.exchanges.services.bots import spot_bot_start
from apps.exchanges.services.connections import connection_status_set, paper_connection
from apps.exchanges.services.orders import order_send
from apps.exchanges.signals import spot_changed
from apps.realtime.push import is_part, render_user_state
from tests.fakes.exchange.fixtures import fake_exchange_fixture  # noqa: F401

from .conftest import candles_store, rising
from .support import keyed_connection, spot_bot_make

HX = {"HX-Request": "true"}


@pytest.fixture
def trader(client, user):
    client.force_login(user)
    return client


def field_error(body: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="error-{re.escape(field)}"[^>]*>(.*?)</p>', body, re.S)
    assert match, f"no error slot for {field}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)).strip())


def bot_form(connection, market, **overrides) -> dict:
    data = {
        "connection": connection.pk,
        "market": market.pk,
        "name": "BTC climber",
        "timeframe": "1m",
        "strategies": ["momentum", "breakout", "scalping"],
        "min_agreeing": "1",
        "min_confidence": "0.10",
        "blocked_regimes": ["BEARISH"],
        "position_pct": "5",
        "max_open_positions": "1",
        "stop_loss_pct": "2",
        "take_profit_pct": "4",
        "max_adds": "2",
        "add_spacing_pct": "1",
    }
    return data | overrides


make_bot = spot_bot_make


def buy(connection, market, client_id="b1", amount="0.01", bot=None) -> SpotOrder:
    explanation = {
        "why": "3 of 3 strategies voted RISE; buying 5% of equity (500.00 USDT).",
        "price": str(market.last_price),
        "decision": {"direction": "RISE", "confidence": 0.8, "reason": "3 of 3 strategies voted RISE"},
        "votes": [{"strategy": "momentum", "direction": "RISE", "confidence": 0.8, "reason": "fast EMA above slow"}],
        "regime": {"kind": "BULLISH", "confidence": 0.6, "reason": "the EMA climbed"},
        "risk": {"position_pct": "5", "stop_loss_pct": "2", "take_profit_pct": "4"},
    }
    return order_send(
        connection=connection,
        market=market,
        side=Side.BUY,
        amount=Decimal(amount),
        purpose=Purpose.OPEN,
        client_id=client_id,
        bot=bot,
        explanation=explanation,
    ).order


# --- Pages -------------------------------------------------------------------------


def test_every_exchange_page_renders_and_the_nav_links_them(trader, user, btc):
    bot = make_bot(user, paper_connection(user=user), btc)
    connection = bot.connection
    for url in (
        reverse("exchanges:list"),
        reverse("exchanges:portfolio", args=[connection.pk]),
        reverse("exchanges:bot_new"),
        f"{reverse('exchanges:bot_new')}?connection={connection.pk}",
        reverse("exchanges:bot", args=[bot.pk]),
    ):
        response = trader.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert 'href="/exchanges/" aria-current="page"' in body


def test_the_exchange_pages_need_a_sign_in(client, user, btc):
    bot = make_bot(user, paper_connection(user=user), btc)
    for url in (
        reverse("exchanges:list"),
        reverse("exchanges:portfolio", args=[bot.connection_id]),
        reverse("exchanges:bot_new"),
        reverse("exchanges:bot", args=[bot.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("account_login") in response["Location"]


def test_the_first_visit_offers_the_paper_exchange_and_opening_it_twice_opens_one(trader, user):
    body = trader.get(reverse("exchanges:list")).content.decode()
    assert not ExchangeConnection.objects.filter(user=user).exists()  # a GET writes nothing
    assert 'hx-trigger="load"' in body and reverse("exchanges:paper_open") in body

    response = trader.post(reverse("exchanges:paper_open"), headers=HX)
    trader.post(reverse("exchanges:paper_open"))
    paper = ExchangeConnection.objects.get(user=user)
    assert paper.paper
    part = response.content.decode()
    assert 'id="exchange-connections"' in part and "Paper (Binance prices)" in part
    assert "10,000.00" in part  # its equity
    assert 'data-testid="paper-offer"' not in trader.get(reverse("exchanges:list")).content.decode()


def test_a_bot_needs_a_connection_first(trader):
    body = trader.get(reverse("exchanges:bot_new")).content.decode()
    assert 'data-testid="no-connection"' in body


def test_another_traders_connection_and_bot_are_not_found(trader, other_user, btc):
    theirs = make_bot(other_user, paper_connection(user=other_user), btc)
    for url in (
        reverse("exchanges:portfolio", args=[theirs.connection_id]),
        f"{reverse('exchanges:bot_new')}?connection={theirs.connection_id}",
        reverse("exchanges:bot", args=[theirs.pk]),
    ):
        assert trader.get(url).status_code == 404, url
    for url in (
        reverse("exchanges:close", args=[theirs.connection_id]),
        reverse("exchanges:remove", args=[theirs.connection_id]),
        reverse("exchanges:bot_start", args=[theirs.pk]),
        reverse("exchanges:bot_stop", args=[theirs.pk]),
    ):
        assert trader.post(url).status_code == 404, url
    theirs.refresh_from_db()
    assert theirs.status == SpotBotStatus.STOPPED


# --- Connecting and removing -------------------------------------------------------------


def test_an_empty_connect_form_shows_each_error_next_to_its_field_and_saves_nothing(trader, user):
    data = {"exchange": "binance", "label": "", "api_key": ""}
    response = trader.post(reverse("exchanges:connect"), data, headers=HX)
    assert response.status_code == 422
    body = response.content.decode()
    assert field_error(body, "label") == "Give the connection a name."
    assert field_error(body, "api_key") == "Paste the API key."
    assert field_error(body, "secret") == "Paste the secret key."
    assert not ExchangeConnection.objects.filter(user=user, paper=False).exists()


@pytest.fixture
def exchange_at_fake(fake_exchange, settings):  # noqa: F811
    settings.EXCHANGES = {**settings.EXCHANGES, "binance": {"URL": fake_exchange.url, "TIMEOUT_S": 5.0}}
    return fake_exchange


def test_a_good_key_is_stored_encrypted_and_shown_only_by_its_last_four_characters(trader, user, exchange_at_fake):
    exchange_at_fake.add_key("live-key-abcd1234", "s3cret", balances={"USDT": "250"})
    response = trader.post(
        reverse("exchanges:connect"),
        {"exchange": "binance", "label": "My Binance", "api_key": " live-key-abcd1234 ", "secret": "s3cret"},
    )
    connection = ExchangeConnection.objects.get(user=user, paper=False)
    assert response.status_code == 302 and response["Location"] == reverse("exchanges:portfolio", args=[connection.pk])
    assert connection.key_last4 == "1234" and "live-key" not in connection.api_key_encrypted
    body = trader.get(reverse("exchanges:list")).content.decode()
    assert "••••1234" in body and "live-key-abcd1234" not in body and "s3cret" not in body
    assert "250.00" in body


def test_a_key_that_can_withdraw_is_refused_next_to_the_key(trader, user, exchange_at_fake):
    exchange_at_fake.add_key("withdrawing-key", "s3cret", balances={"USDT": "250"}, can_withdraw=True)
    response = trader.post(
        reverse("exchanges:connect"),
        {"exchange": "binance", "label": "Risky", "api_key": "withdrawing-key", "secret": "s3cret"},
        headers=HX,
    )
    assert response.status_code == 422
    assert "Create a key without withdrawal permission." in field_error(response.content.decode(), "api_key")
    assert 'value="s3cret"' not in response.content.decode()
    assert not ExchangeConnection.objects.filter(user=user, paper=False).exists()


def test_a_wrong_secret_is_refused_next_to_the_secret(trader, user, exchange_at_fake):
    exchange_at_fake.add_key("a-real-key", "right-secret")
    response = trader.post(
        reverse("exchanges:connect"),
        {"exchange": "binance", "label": "Typo", "api_key": "a-real-key", "secret": "wrong-secret"},
    )
    assert response.status_code == 422
    assert "Binance refused this key and secret" in field_error(response.content.decode(), "secret")
    assert not ExchangeConnection.objects.filter(user=user, paper=False).exists()


def test_an_unreachable_exchange_is_said_above_the_form(trader, user, exchange_at_fake):
    exchange_at_fake.unreachable(True)
    response = trader.post(
        reverse("exchanges:connect"),
        {"exchange": "binance", "label": "Later", "api_key": "any-key", "secret": "any-secret"},
        headers=HX,
    )
    assert response.status_code == 422
    assert "did not answer. Nothing was saved" in field_error(response.content.decode(), "__all__")
    assert not ExchangeConnection.objects.filter(user=user, paper=False).exists()


def test_removing_a_connection_stops_its_bots_and_keeps_its_history(trader, user, btc):
    connection = keyed_connection(user, label="Old key")
    bot = make_bot(user, connection, btc)
    spot_bot_start(user=user, bot_id=bot.pk)
    body = trader.get(reverse("exchanges:list")).content.decode()
    assert reverse("exchanges:remove", args=[connection.pk]) in body and "hx-confirm" in body
    assert "••••0001" in body

    response = trader.post(reverse("exchanges:remove", args=[connection.pk]))
    assert response.status_code == 302
    connection.refresh_from_db()
    bot.refresh_from_db()
    assert connection.removed_at is not None and connection.api_key_encrypted == ""
    assert bot.status == SpotBotStatus.STOPPED
    assert f'data-connection="{connection.pk}"' not in trader.get(reverse("exchanges:list")).content.decode()
    assert trader.get(reverse("exchanges:portfolio", args=[connection.pk])).status_code == 404


def test_the_paper_exchange_cannot_be_removed(trader, user):
    paper = paper_connection(user=user)
    assert reverse("exchanges:remove", args=[paper.pk]) not in trader.get(reverse("exchanges:list")).content.decode()
    assert trader.post(reverse("exchanges:remove", args=[paper.pk])).status_code == 404
    paper.refresh_from_db()
    assert paper.removed_at is None


# --- Portfolio ----------------------------------------------------------------------------


def test_the_portfolio_shows_balances_open_positions_with_unrealised_pnl_and_their_explanation(
    trader, user, paper, btc
):
    buy(paper, btc)
    btc.last_price = Decimal("51000")
    btc.save()
    body = trader.get(reverse("exchanges:portfolio", args=[paper.pk])).content.decode()
    assert f'id="exchange-live-{paper.pk}"' in body
    assert 'data-testid="balances"' in body and ">BTC<" in body
    position = SpotPosition.objects.get(connection=paper)
    row = re.search(r'<tr class="spot-position[^"]*"[^>]*data-testid="open-position">.*?</tr>', body, re.S).group(0)
    assert "BTC/USDT" in row and "51,000" in row
    gain = position.amount * Decimal("51000") - position.cost
    assert f"{gain:+.2f}" in row
    assert "fast EMA above slow" in row and "Bullish" in row and "3 of 3 strategies voted RISE" in row
    assert f'name="position" value="{position.pk}"' in row
    assert "Close all at market" in body


def test_refused_orders_show_with_their_reason(trader, paper, btc):
    buy(paper, btc, amount="10")  # 500,000 USDT: more than the paper exchange holds
    body = trader.get(reverse("exchanges:portfolio", args=[paper.pk])).content.decode()
    assert "Rejected" in body and "insufficient balance" in body


def test_close_all_at_market_sells_every_open_position(trader, user, paper, btc):
    buy(paper, btc, "b1")
    buy(paper, btc, "b2")
    response = trader.post(reverse("exchanges:close", args=[paper.pk]))
    assert response.status_code == 302
    sells = SpotOrder.objects.filter(connection=paper, side=Side.SELL)
    assert sells.count() == 2 and {o.status for o in sells} == {OrderStatus.FILLED}
    assert {o.purpose for o in sells} == {Purpose.CLOSE}
    assert not SpotPosition.objects.filter(connection=paper, status=PositionStatus.OPEN).exists()
    body = trader.get(reverse("exchanges:portfolio", args=[paper.pk])).content.decode()
    assert "2 positions sold at market." in body
    assert body.count('data-testid="closed-position"') == 2
    assert "Closed at market by the trader." in body


def test_a_positions_close_button_sells_only_that_position(trader, paper, btc):
    buy(paper, btc, "b1")
    buy(paper, btc, "b2")
    first, second = SpotPosition.objects.filter(connection=paper).order_by("pk")
    response = trader.post(reverse("exchanges:close", args=[paper.pk]), {"position": [first.pk]}, headers=HX)
    assert response.status_code == 200 and response.headers["HX-Refresh"] == "true"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == PositionStatus.CLOSED and second.status == PositionStatus.OPEN
    assert first.realized_pnl < 0  # the paper exchange's slippage and fees, on an unchanged price


def test_a_malformed_position_id_is_not_found_and_closes_nothing(trader, paper, btc):
    buy(paper, btc)
    assert trader.post(reverse("exchanges:close", args=[paper.pk]), {"position": ["1; drop"]}).status_code == 404
    assert SpotPosition.objects.get(connection=paper).status == PositionStatus.OPEN


def test_the_equity_curve_has_a_point_per_closed_trade(trader, paper, btc):
    buy(paper, btc)
    trader.post(reverse("exchanges:close", args=[paper.pk]))
    body = trader.get(reverse("exchanges:portfolio", args=[paper.pk])).content.decode()
    assert 'id="equity-chart"' in body and 'id="equity-data"' in body
    assert "js/chart-options.js" in body and "js/exchanges.js" in body
    assert "<script>" not in body  # CSP: no inline script, the data is a JSON block


def test_the_kill_switch_is_said_where_positions_are(trader, user, paper, btc):
    bot = make_bot(user, paper, btc)
    assert "Kill switch on" not in trader.get(reverse("exchanges:portfolio", args=[paper.pk])).content.decode()
    kill_switch_set(user=user, engaged=True, actor=user)
    message = "Kill switch on: bots open no new positions; close positions here if you want."
    for url in (
        reverse("exchanges:list"),
        reverse("exchanges:portfolio", args=[paper.pk]),
        reverse("exchanges:bot", args=[bot.pk]),
    ):
        assert message in trader.get(url).content.decode(), url


# --- Spot bots ------------------------------------------------------------------------------


def test_the_bot_form_offers_the_traders_connections_and_the_fixed_limits(trader, user, other_user, btc):
    paper = paper_connection(user=user)
    theirs = paper_connection(user=other_user)
    body = trader.get(f"{reverse('exchanges:bot_new')}?connection={paper.pk}").content.decode()
    assert f'<option value="{paper.pk}" selected>' in body
    assert f'<option value="{theirs.pk}"' not in body
    assert "At most 50 trades a day; stopped after 5 errors in a row or a 20% drawdown" in body
    assert re.search(r'value="BEARISH"[^>]*checked', body) and not re.search(r'value="BULLISH"[^>]*checked', body)


def test_creating_a_bot_stores_its_settings_and_opens_its_page(trader, user, paper, btc):
    response = trader.post(reverse("exchanges:bot_new"), bot_form(paper, btc, pyramiding="on"))
    bot = SpotBot.objects.get(user=user)
    assert response.status_code == 302 and response["Location"] == reverse("exchanges:bot", args=[bot.pk])
    assert bot.strategies == {"momentum": {}, "breakout": {}, "scalping": {}}
    assert bot.blocked_regimes == ["BEARISH"] and bot.pyramiding
    assert bot.position_pct == Decimal("5") and bot.status == SpotBotStatus.STOPPED
    body = trader.get(response["Location"]).content.decode()
    assert "It is stopped: start it when you are ready." in body
    assert "5% of equity each" in body


def test_a_position_size_out_of_range_is_said_next_to_it_and_creates_nothing(trader, user, paper, btc):
    for value in ("1", "11", "abc"):
        response = trader.post(reverse("exchanges:bot_new"), bot_form(paper, btc, position_pct=value), headers=HX)
        assert response.status_code == 422
        message = field_error(response.content.decode(), "position_pct")
        if value == "abc":
            assert message.startswith("Enter the position size")
        else:
            assert message == "Position size must be between 2% and 10% of equity."
    assert not SpotBot.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_agreeing", "3", "Agreeing votes cannot be more than the strategies chosen (2)."),
        ("stop_loss_pct", "0.1", "The stop-loss must be between 0.5% and 20%."),
        ("take_profit_pct", "60", "The take-profit must be between 0.5% and 50%."),
        ("max_open_positions", "6", "Open positions must be between 1 and 5."),
        ("max_adds", "0", "Additions must be between 1 and 5."),
        ("add_spacing_pct", "11", "The spacing between additions must be between 0.5% and 10%."),
        ("min_confidence", "1.5", "The confidence threshold must be between 0 and 1."),
        ("timeframe", "1h", "Choose 1m or 5m."),
    ],
)
def test_each_bad_setting_is_said_next_to_its_field(trader, paper, btc, field, value, message):
    data = bot_form(paper, btc, strategies=["momentum", "breakout"]) | {field: value}
    response = trader.post(reverse("exchanges:bot_new"), data)
    assert response.status_code == 422
    assert field_error(response.content.decode(), field) == message
    assert not SpotBot.objects.exists()


def test_no_strategy_is_an_error(trader, paper, btc):
    response = trader.post(reverse("exchanges:bot_new"), bot_form(paper, btc, strategies=[]))
    assert field_error(response.content.decode(), "strategies") == "Choose at least one strategy."


def test_another_traders_connection_cannot_carry_a_bot(trader, other_user, btc):
    theirs = paper_connection(user=other_user)
    response = trader.post(reverse("exchanges:bot_new"), bot_form(theirs, btc))
    assert field_error(response.content.decode(), "connection") == "Choose one of your exchange connections."
    assert not SpotBot.objects.exists()


def test_checking_as_the_trader_types_saves_nothing(trader, paper, btc):
    response = trader.post(reverse("exchanges:bot_new"), bot_form(paper, btc, position_pct="12") | {"validate": "1"})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="error-position_pct"' in body and 'hx-swap-oob="true"' in body
    assert not SpotBot.objects.exists()


def test_start_and_stop_answer_with_the_bots_live_part(trader, user, paper, btc):
    bot = make_bot(user, paper, btc)
    response = trader.post(reverse("exchanges:bot_start", args=[bot.pk]), headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="spot-live-{bot.pk}" class="bot-live bot-live--running"' in body
    assert f'id="spot-actions-{bot.pk}"' in body and 'hx-swap-oob="true"' in body
    bot.refresh_from_db()
    assert bot.status == SpotBotStatus.RUNNING

    response = trader.post(reverse("exchanges:bot_stop", args=[bot.pk]))
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.status == SpotBotStatus.STOPPED
    assert (
        "You stopped the bot; its positions stay open."
        in trader.get(reverse("exchanges:bot", args=[bot.pk])).content.decode()
    )


def test_a_refused_start_says_why(trader, user, paper, btc):
    bot = make_bot(user, paper, btc)
    connection_status_set(connection=paper, status=ConnectionStatus.REFUSED, reason="Invalid API-key.")
    response = trader.post(reverse("exchanges:bot_start", args=[bot.pk]), headers=HX)
    assert response.status_code == 422
    assert "The exchange refused this connection&#x27;s key: Invalid API-key." in response.content.decode()
    bot.refresh_from_db()
    assert bot.status == SpotBotStatus.STOPPED


def test_a_running_bot_on_stale_prices_shows_it_is_paused(trader, user, paper, btc):
    bot = make_bot(user, paper, btc)
    spot_bot_start(user=user, bot_id=bot.pk)
    body = trader.get(reverse("exchanges:bot", args=[bot.pk])).content.decode()
    assert "Paused: No 1m candles for BTC/USDT yet." in body
    candles_store(btc, rising(5))
    assert "Paused:" not in trader.get(reverse("exchanges:bot", args=[bot.pk])).content.decode()


def test_the_bot_page_shows_its_positions_and_orders_with_their_explanation(trader, user, paper, btc):
    bot = make_bot(user, paper, btc)
    buy(paper, btc, bot=bot)
    buy(paper, btc, "other")  # not the bot's
    body = trader.get(reverse("exchanges:bot", args=[bot.pk])).content.decode()
    assert body.count('data-testid="open-position"') == 1
    assert body.count('data-testid="order"') == 1
    assert "fast EMA above slow" in body
    assert "1 of 1" in body  # open positions in its live part


def test_the_list_shows_each_spot_bot_with_its_live_status(trader, user, paper, btc):
    bot = make_bot(user, paper, btc)
    body = trader.get(reverse("exchanges:list")).content.decode()
    assert "spotbot" in re.search(r'ws-connect="([^"]+)"', body).group(1)
    assert f'id="spot-live-{bot.pk}"' in body and reverse("exchanges:bot_start", args=[bot.pk]) in body


# --- Live updates ---------------------------------------------------------------------------------


def test_the_pushed_fragments_are_the_pages_parts_swapped_by_id(user, paper, btc):
    bot = make_bot(user, paper, btc)
    buy(paper, btc)
    parts = exchange_fragments(user)
    assert set(parts) == {f"exchange.{paper.pk}", f"spotbot.{bot.pk}"}
    assert f'id="exchange-live-{paper.pk}"' in parts[f"exchange.{paper.pk}"]
    assert 'hx-swap-oob="true"' in parts[f"exchange.{paper.pk}"]
    assert 'data-testid="open-position"' in parts[f"exchange.{paper.pk}"]
    assert "csrfmiddlewaretoken" not in "".join(parts.values())
    assert is_part(f"exchange.{paper.pk}") and is_part(f"spotbot.{bot.pk}")
    wanted = frozenset({"balance", f"exchange.{paper.pk}"})
    assert f"exchange.{paper.pk}" in render_user_state(user, wanted)
    assert f"spotbot.{bot.pk}" not in render_user_state(user, wanted)


def test_a_trader_without_connections_gets_no_exchange_parts(user):
    assert exchange_fragments(user) == {}


def test_spot_changed_pushes_the_traders_state(user, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("apps.realtime.receivers._enqueue_push", lambda task, ids: queued.append((task, ids)))
    with django_capture_on_commit_callbacks(execute=True):
        spot_changed.send(sender=SpotBot, user_ids=[user.pk])
    # One push for the worker, with this trader (and any left waiting by an earlier rolled-back transaction).
    [(task, ids)] = queued
    assert task == "apps.realtime.tasks.push_user_state" and user.pk in ids


def test_trying_keys_is_rate_limited(client, user, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"exchange_connects": "2/h"}
    client.force_login(user)
    form = {"exchange": "binance", "label": "Main", "api_key": "k", "secret": ""}

    answers = [client.post(reverse("exchanges:connect"), form).status_code for _ in range(3)]

    assert answers == [422, 422, 429]


def test_a_backtest_replays_the_bots_settings_over_recorded_candles(client, user):
    from apps.exchanges.services.connections import paper_connection
    from tests.exchanges.conftest import candles_store, rising

    from .support import spot_bot_make, spot_market

    market = spot_market()
    bot = spot_bot_make(user, paper_connection(user=user), market)
    client.force_login(user)
    url = reverse("exchanges:bot_backtest", args=[bot.pk])

    empty = client.post(url, {"days": "1", "starting_quote": "1000"}, headers={"HX-Request": "true"})
    assert empty.status_code == 422 and "No 1m candles" in html.unescape(empty.content.decode())
    wrong = client.post(url, {"days": "30", "starting_quote": "1000"}, headers={"HX-Request": "true"})
    assert wrong.status_code == 422 and "between 1 and 7 days" in html.unescape(wrong.content.decode())

    closes = rising(900)
    candles_store(market, closes + [closes[-1] * (1 - 0.001 * i) for i in range(1, 60)])
    answer = client.post(url, {"days": "1", "starting_quote": "1000"}, headers={"HX-Request": "true"})

    text = html.unescape(answer.content.decode())
    assert answer.status_code == 200
    assert 'data-testid="backtest-report"' in text and "959" in text
    assert "consensus turned to FALL" in text or "stop-loss" in text or "take-profit" in text


def test_another_traders_bot_cannot_be_backtested(client, user, other_user):
    from apps.exchanges.services.connections import paper_connection

    from .support import spot_bot_make, spot_market

    bot = spot_bot_make(other_user, paper_connection(user=other_user), spot_market())
    client.force_login(user)

    answer = client.post(reverse("exchanges:bot_backtest", args=[bot.pk]), {"days": "1", "starting_quote": "1000"})

    assert answer.status_code == 404


def test_the_bot_form_says_when_no_pair_is_loaded(trader):
    answer = trader.get(reverse("exchanges:bot_new"))

    assert 'data-testid="no-pairs"' in answer.content.decode()
