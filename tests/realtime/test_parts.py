"""Each socket gets only the live parts its page declared: no fragment arrives that the page has no place for."""

import re
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.urls import reverse

from apps.bots.engine.config import DecisionConfig
from apps.bots.services import bot_create
from apps.realtime.push import PARTS, push_signals, push_ticks, push_user_state
from tests.realtime.test_consumer import communicator, receive_all, run

pytestmark = pytest.mark.django_db(transaction=True)

TREND = DecisionConfig({"scalping": {}, "momentum": {}, "breakout": {}}, 2, Decimal("0.50"))


@pytest.fixture(autouse=True)
def fresh_layer():
    async_to_sync(get_channel_layer().flush)()


def ids(html: str) -> set[str]:
    """The ids of the top-level fragments a message carries (what htmx swaps by id)."""
    return set(re.findall(r'<(?:div|section|span|details|output|form) id="([^"]+)"', html))


def make_bot(user, account, market, name):
    settings = {
        "name": name,
        "account": account,
        "market": market,
        "blocked_regimes": [],
        "duration": 5,
        "duration_unit": "t",
        "base_stake": Decimal("1.00"),
        "max_stake": Decimal("10.00"),
    }
    return bot_create(user=user, decision=TREND, settings=settings)


def test_a_socket_that_asked_for_the_balance_only_gets_no_positions(demo_account, feed):
    async def scenario():
        comm = communicator(demo_account.user, "/ws/live/?parts=balance")
        await comm.connect()
        said = await receive_all(comm)
        assert 'id="header-balance"' in said
        assert 'id="positions"' not in said and 'id="bell"' not in said
        await database_sync_to_async(push_user_state)([demo_account.user.pk])
        pushed = await receive_all(comm)
        assert ids(pushed) == {"header-balance"}
        await comm.disconnect()

    run(scenario)


def test_the_trade_pages_socket_gets_no_bot_status_and_the_bots_list_no_positions(demo_account, feed):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    bot = make_bot(demo_account.user, demo_account, market, "Runner")

    async def scenario():
        trade = communicator(
            demo_account.user, "/ws/live/?parts=balance,bell,toasts,positions,quote&market=OTC_EUR_USD"
        )
        bots = communicator(demo_account.user, "/ws/live/?parts=balance,bell,toasts,bots")
        for comm in (trade, bots):
            await comm.connect()
            await receive_all(comm)
        await database_sync_to_async(push_user_state)([demo_account.user.pk])
        to_trade, to_bots = ids(await receive_all(trade)), ids(await receive_all(bots))
        assert to_trade == {"header-balance", "bell", "positions"}
        assert to_bots == {"header-balance", "bell", f"bot-live-{bot.pk}", "bots-kill-banner"}
        for comm in (trade, bots):
            await comm.disconnect()

    run(scenario)


def test_a_bots_page_gets_its_own_bot_and_the_banner_only(demo_account, feed):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    mine = make_bot(demo_account.user, demo_account, market, "Mine")
    other = make_bot(demo_account.user, demo_account, market, "Other")

    async def scenario():
        comm = communicator(demo_account.user, f"/ws/live/?parts=bell,bots.kill,bots.{mine.pk}")
        await comm.connect()
        said = ids(await receive_all(comm))
        assert said == {"bell", f"bot-live-{mine.pk}", "bots-kill-banner"}
        assert f"bot-live-{other.pk}" not in said
        await comm.disconnect()

    run(scenario)


def test_market_parts_go_to_the_pages_that_show_them(demo_account, feed):
    from apps.bots.models import Decision

    eur = feed.markets_by_symbol["OTC_EUR_USD"]
    assert not Decision.objects.exists()

    async def scenario():
        trade = communicator(demo_account.user, "/ws/live/?parts=quote&market=OTC_EUR_USD")
        signals = communicator(demo_account.user, "/ws/live/?parts=signals&market=OTC_EUR_USD")
        await trade.connect()
        await signals.connect()
        assert 'id="quote"' in await receive_all(trade)
        # The signals page shows no quote: none on subscribing, none per tick.
        assert await receive_all(signals) == ""
        await database_sync_to_async(push_ticks)([eur.pk])
        assert ids(await receive_all(trade)) == {"quote", "price-OTC_EUR_USD"}
        assert await receive_all(signals) == ""
        await database_sync_to_async(push_signals)([eur.pk])
        assert ids(await receive_all(signals)) == {"signals-OTC_EUR_USD"}
        assert await receive_all(trade) == ""
        await trade.disconnect()
        await signals.disconnect()

    run(scenario)


def test_a_socket_renders_only_its_pages_parts_on_connect(demo_account, feed):
    from apps.realtime.push import render_user_state

    market = feed.markets_by_symbol["OTC_EUR_USD"]
    mine, other = (make_bot(demo_account.user, demo_account, market, name) for name in ("Mine", "Other"))
    user = demo_account.user
    assert set(render_user_state(user, frozenset({"balance"}))) == {"balance"}
    assert set(render_user_state(user, frozenset({"bell", f"bots.{mine.pk}"}))) == {"bell", f"bots.{mine.pk}"}
    everything = {"balance", "positions", "bell", "dashboard", "bots.kill", f"bots.{mine.pk}", f"bots.{other.pk}"}
    assert set(render_user_state(user)) == everything


def test_unknown_parts_are_ignored_and_no_parts_means_every_part(demo_account, feed, caplog):
    async def scenario():
        odd = communicator(demo_account.user, "/ws/live/?parts=bell,user.2,bots.x,../positions")
        await odd.connect()
        assert ids(await receive_all(odd)) == {"bell"}
        await odd.disconnect()
        legacy = communicator(demo_account.user)
        await legacy.connect()
        # Every part is rendered before the first one is sent (dashboard, bots and exchanges included): the
        # quiet period allows for that render on a loaded machine.
        assert {"header-balance", "bell", "positions"} <= ids(await receive_all(legacy, timeout=2))
        await legacy.disconnect()

    run(scenario)
    assert "ignored unknown live parts" in caplog.text


def test_each_page_declares_the_parts_it_shows(client, demo_account, feed):
    client.force_login(demo_account.user)
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    bot = make_bot(demo_account.user, demo_account, market, "Runner")

    def declared(url: str) -> set[str]:
        body = client.get(url).content.decode()
        parts = re.search(r'ws-connect="/ws/live/\?parts=([^"&]*)', body).group(1).split(",")
        assert set(parts) <= PARTS | {f"bots.{bot.pk}"}
        return set(parts)

    header = {"balance", "bell", "toasts"}
    assert declared(f"{reverse('trading:trade')}?market=OTC_EUR_USD") == header | {"positions", "quote"}
    assert declared(reverse("bots:list")) == header | {"bots"}
    assert declared(reverse("bots:detail", args=[bot.pk])) == header | {"bots.kill", f"bots.{bot.pk}"}
    assert declared(reverse("bots:signals")) == header | {"signals"}
    assert declared(reverse("trading:history")) == header
    assert declared(reverse("dashboard:home")) == header | {"dashboard"}
