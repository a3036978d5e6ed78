"""The live socket: who may connect, what they may subscribe to, and what they receive."""

import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from apps.realtime.consumers import LiveConsumer
from apps.realtime.push import push_ticks, push_user_state

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer():
    async_to_sync(get_channel_layer().flush)()


def run(scenario):
    async_to_sync(scenario)()


def communicator(user, path="/ws/live/"):
    comm = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    comm.scope["user"] = user
    return comm


async def greeted(comm) -> str:
    """Connect and return what the socket says on connect, up to the trader's state, which it sends last.

    Waiting for that part, not for a quiet spell: on a busy machine its render
    can take longer than receive_all's timeout, and would then arrive later,
    amid what the test checks next.
    """
    connected, _ = await comm.connect()
    assert connected
    said = [await comm.receive_from(timeout=10)]
    while 'id="header-balance"' not in said[-1]:
        said.append(await comm.receive_from(timeout=10))
    return "".join(said)


async def receive_all(comm, timeout=0.3) -> str:
    """Everything the socket says until it goes quiet."""
    received = []
    while not await comm.receive_nothing(timeout=timeout):
        received.append(await comm.receive_from())
    return "".join(received)


def test_anonymous_sockets_are_closed():
    from django.contrib.auth.models import AnonymousUser

    async def scenario():
        connected, code = await communicator(AnonymousUser()).connect()
        assert not connected
        assert code == 4401

    run(scenario)


def test_on_connect_the_server_sends_balance_positions_bell_and_quote(demo_account, feed):
    async def scenario():
        comm = communicator(demo_account.user, "/ws/live/?market=OTC_EUR_USD")
        said = await greeted(comm)
        assert 'id="header-balance"' in said and "10,000.00" in said
        assert 'id="positions"' in said
        assert 'id="bell"' in said
        assert 'id="quote"' in said and 'data-symbol="OTC_EUR_USD"' in said
        await comm.disconnect()

    run(scenario)


def test_a_tick_reaches_subscribers_of_its_market_only(demo_account, other_user, feed):
    from apps.accounts.services import account_open_demo

    account_open_demo(user=other_user)
    eur = feed.markets_by_symbol["OTC_EUR_USD"].pk

    async def scenario():
        watcher = communicator(demo_account.user, "/ws/live/?market=OTC_EUR_USD")
        elsewhere = communicator(other_user, "/ws/live/?market=OTC_GOLD")
        await greeted(watcher)
        await greeted(elsewhere)
        await database_sync_to_async(push_ticks)([eur])
        assert 'data-symbol="OTC_EUR_USD"' in await receive_all(watcher)
        assert await receive_all(elsewhere) == ""
        await watcher.disconnect()
        await elsewhere.disconnect()

    run(scenario)


def test_unsubscribing_stops_the_ticks(demo_account, feed):
    eur = feed.markets_by_symbol["OTC_EUR_USD"].pk

    async def scenario():
        comm = communicator(demo_account.user, "/ws/live/?market=OTC_EUR_USD")
        await greeted(comm)
        await comm.send_to(text_data=json.dumps({"unsubscribe": "OTC_EUR_USD"}))
        await receive_all(comm)
        await database_sync_to_async(push_ticks)([eur])
        assert await receive_all(comm) == ""
        await comm.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "message",
    [
        "not json at all",
        json.dumps(["a", "list"]),
        json.dumps({"subscribe": "NOPE"}),
        json.dumps({"subscribe": "user.1"}),
        json.dumps({"subscribe": 42}),
        json.dumps({"what": "ever"}),
        "x" * 10_000,
    ],
)
def test_bad_client_messages_are_ignored_and_the_socket_stays_up(demo_account, feed, message, caplog):
    async def scenario():
        comm = communicator(demo_account.user)
        await greeted(comm)
        await comm.send_to(text_data=message)
        assert await receive_all(comm) == ""
        # Still alive: a valid request is answered.
        await comm.send_to(text_data=json.dumps({"subscribe": "OTC_GOLD"}))
        assert 'data-symbol="OTC_GOLD"' in await receive_all(comm)
        await comm.disconnect()

    run(scenario)
    assert "ignored" in caplog.text or "unknown or inactive" in caplog.text


def test_an_inactive_market_cannot_be_subscribed(demo_account, feed, markets):
    from apps.markets.models import Market

    Market.objects.filter(symbol="OTC_GOLD").update(is_active=False)

    async def scenario():
        comm = communicator(demo_account.user, "/ws/live/?market=OTC_GOLD")
        assert 'id="quote"' not in await greeted(comm)
        await comm.disconnect()

    run(scenario)


def test_a_user_only_receives_their_own_state(demo_account, other_user, feed):
    from apps.accounts.services import account_open_demo
    from apps.trading.services import contract_buy

    theirs = account_open_demo(user=other_user)

    async def scenario():
        mine = communicator(demo_account.user)
        spy = communicator(other_user)
        await greeted(mine)
        await greeted(spy)
        await database_sync_to_async(contract_buy)(
            user=demo_account.user,
            account=demo_account,
            market=feed.markets_by_symbol["OTC_EUR_USD"],
            direction="RISE",
            stake=Decimal("15.00"),
            duration=3,
            duration_unit="t",
            idempotency_key="live-1",
        )
        said = await receive_all(mine)
        assert "9,985.00" in said
        assert await receive_all(spy) == ""
        await database_sync_to_async(push_user_state)([other_user.pk])
        assert "9,985.00" not in await receive_all(spy)
        await mine.disconnect()
        await spy.disconnect()

    run(scenario)
    assert theirs.pk


def test_a_foreign_origin_is_refused(demo_account):
    from nexus.asgi import application

    async def scenario():
        comm = WebsocketCommunicator(application, "/ws/live/", headers=[(b"origin", b"https://evil.example")])
        connected, _ = await comm.connect()
        assert not connected

    run(scenario)


def test_a_tick_that_arrives_too_late_is_dropped_but_user_state_never_is(demo_account, feed):
    import time

    from apps.realtime.push import market_group, user_group

    async def scenario():
        comm = communicator(demo_account.user, "/ws/live/?market=OTC_EUR_USD")
        await greeted(comm)
        layer = get_channel_layer()
        stale = {"type": "push.html", "parts": {"quote": "<div id='quote'>old</div>"}, "expires": time.time() - 1}
        fresh = {"type": "push.html", "parts": {"quote": "<div id='quote'>new</div>"}, "expires": time.time() + 5}
        await layer.group_send(market_group("OTC_EUR_USD"), stale)
        await layer.group_send(market_group("OTC_EUR_USD"), fresh)
        await layer.group_send(
            user_group(demo_account.user.pk), {"type": "push.html", "parts": {"bell": "<b id='x'>state</b>"}}
        )
        said = await receive_all(comm)
        assert "old" not in said
        assert "new" in said and "state" in said
        await comm.disconnect()

    run(scenario)
