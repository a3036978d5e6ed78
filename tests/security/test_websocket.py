"""What a socket's messages can make the server do: join the signed-in user's own group and active markets' only.

Each hostile message is sent, then a fragment is pushed to every group it
could have joined: none reaches the socket, and the socket still works.
"""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from apps.realtime.consumers import MAX_MARKETS, MAX_MESSAGE_BYTES, LiveConsumer
from apps.realtime.push import market_group, user_group

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer():
    async_to_sync(get_channel_layer().flush)()


@pytest.fixture(autouse=True)
def many_messages_allowed(settings):
    """These tests are about what a message may do, not how many (tests/realtime/test_limits.py)."""
    settings.WS_LIMITS = settings.WS_LIMITS | {"MESSAGES_PER_SECOND": 10_000}


def communicator(user, path="/ws/live/"):
    comm = WebsocketCommunicator(LiveConsumer.as_asgi(), path)
    comm.scope["user"] = user
    return comm


async def receive_all(comm, timeout=0.3) -> str:
    received = []
    while not await comm.receive_nothing(timeout=timeout):
        received.append(await comm.receive_from())
    return "".join(received)


async def push(group: str, html: str) -> None:
    """What apps/realtime/push.py sends a group (awaited here: the test is in the event loop)."""
    await get_channel_layer().group_send(group, {"type": "push.html", "parts": {"bell": html}})


def groups_to_probe(other_user) -> list[str]:
    """Groups a hostile message might try to reach: another user's, made-up markets, inactive and raw names."""
    return [
        user_group(other_user.pk),
        market_group("x"),
        market_group("OTC_GOLD"),  # made inactive below
        market_group(f"user.{other_user.pk}"),
        "x",
        f"user.{other_user.pk}",
        "market.",
    ]


def hostile_messages(other_user) -> list[str]:
    victim = f"user.{other_user.pk}"
    names = [
        victim,
        f"../{victim}",
        f"OTC_EUR_USD {victim}",
        "x",
        "",
        " OTC_EUR_USD",
        "OTC_EUR_USD ",
        "OTC_EUR_USD.x",
        "otc_eur_usd",
        "OTC_GOLD",
        "market.OTC_EUR_USD",
        "OTC_EUR_USD\n",
        "ＯＴＣ_EUR_USD",
        "*",
        "%",
        "V" * 5000,
    ]
    messages = [json.dumps({"subscribe": name}) for name in names]
    messages += [json.dumps({"unsubscribe": name}) for name in (victim, "", "*", f"../{user_group(0)}")]
    messages += [
        json.dumps({"subscribe": [victim]}),
        json.dumps({"subscribe": {"group": victim}}),
        json.dumps({"subscribe": None, "unsubscribe": None}),
        json.dumps({"type": "push.html", "html": "<b>forged</b>"}),
        json.dumps({"type": "session.end"}),
        json.dumps([{"subscribe": victim}]),
        json.dumps({"subscribe": "OTC_EUR_USD" + " " * MAX_MESSAGE_BYTES}),
        "{" * (MAX_MESSAGE_BYTES + 1),
        "not json",
    ]
    return messages


@pytest.mark.parametrize("query", ["", "?market=user.{other}", "?market=x", "?market=OTC_GOLD", "?market=" + "Z" * 500])
def test_hostile_messages_join_nothing_but_the_users_own_group_and_active_markets(
    demo_account, other_user, feed, markets, query
):
    from apps.markets.models import Market

    Market.objects.filter(symbol="OTC_GOLD").update(is_active=False)
    path = "/ws/live/" + query.format(other=other_user.pk)
    probes = groups_to_probe(other_user)

    async def scenario():
        comm = communicator(demo_account.user, path)
        connected, _ = await comm.connect()
        assert connected
        await receive_all(comm)
        for message in hostile_messages(other_user):
            await comm.send_to(text_data=message)
        assert "forged" not in await receive_all(comm)
        for group in probes:
            await push(group, f"<p>probe {group}</p>")
        heard = await receive_all(comm)
        assert "probe" not in heard, heard
        # Its own group still reaches it, and a real market can still be followed.
        await push(user_group(demo_account.user.pk), "<p>own</p>")
        assert await receive_all(comm) == "<p>own</p>"
        await comm.send_to(text_data=json.dumps({"subscribe": "OTC_EUR_USD"}))
        assert 'data-symbol="OTC_EUR_USD"' in await receive_all(comm)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_a_socket_follows_at_most_its_share_of_markets(demo_account, feed, markets):
    from apps.markets.models import Market
    from tests.trading.support import make_market

    make_market("EXTRA_ONE")
    make_market("EXTRA_TWO")
    symbols = list(Market.objects.filter(is_active=True).values_list("symbol", flat=True))
    assert len(symbols) > MAX_MARKETS, "the test needs more active markets than one socket may follow"

    async def scenario():
        comm = communicator(demo_account.user)
        await comm.connect()
        await receive_all(comm)
        for symbol in symbols:
            await comm.send_to(text_data=json.dumps({"subscribe": symbol}))
        await receive_all(comm)
        for symbol in symbols:
            await push(market_group(symbol), f"<p>{symbol}</p>")
        heard = await receive_all(comm)
        assert sum(f"<p>{symbol}</p>" in heard for symbol in symbols) == MAX_MARKETS
        await comm.disconnect()

    async_to_sync(scenario)()
