"""Names people type (bots, backtests, account labels, notifications, markets named by admins) are shown as text.

Each is set to markup that would run if it were not escaped, then every
fragment the socket pushes and every page that shows them is read: the markup
is there escaped, never raw.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from apps.bots.fragments import bots_fragments, signals_fragment
from apps.markets.fragments import tick_fragment
from apps.markets.models import Market
from apps.notifications.fragments import bell_fragment, toasts_fragment
from apps.realtime.consumers import LiveConsumer
from apps.realtime.push import push_notifications, push_signals, push_ticks, render_user_state
from tests.support.mfa import sign_in

from .conftest import own_everything

# Both fit the shortest name field (60 characters), so each is stored whole.
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOAD = SCRIPT + ATTRIBUTE
RAW = ["<script>alert", "<img src=x", "onerror=alert(1)>"]
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"


def assert_escaped(html: str, where: str, *, shown: bool = True) -> None:
    for raw in RAW:
        assert raw not in html, f"{where} has {raw!r} unescaped"
    if shown:
        assert ESCAPED in html, f"{where} does not show the name (escaped)"


@pytest.fixture
def named(user, demo_account, feed, markets, deriv_on):
    Market.objects.filter(symbol__in=["VOL_10", "OTC_EUR_USD"]).update(name=PAYLOAD)
    markets = {symbol: Market.objects.get(pk=market.pk) for symbol, market in markets.items()}
    return own_everything(user, demo_account, markets, deriv_on, name=PAYLOAD)


def test_every_pushed_fragment_escapes_names(named):
    user, market = named.user, named.contract.market
    vol = named.bot.market
    fragments = {
        "user state (balance, positions, bell, bots)": ("".join(render_user_state(user).values()), True),
        "bell": (bell_fragment(user), True),
        "toasts": (toasts_fragment([named.notification]), True),
        "bots": ("".join(bots_fragments(user).values()), False),
        "tick": (tick_fragment(market), False),
        "signals": (signals_fragment(vol), False),
    }
    for where, (html, shown) in fragments.items():
        assert html, where
        assert_escaped(html, where, shown=shown)


@pytest.mark.django_db(transaction=True)
def test_what_the_socket_sends_escapes_names(named):
    async_to_sync(get_channel_layer().flush)()
    vol = named.bot.market

    async def receive_all(comm) -> str:
        received = []
        while not await comm.receive_nothing(timeout=0.3):
            received.append(await comm.receive_from())
        return "".join(received)

    async def scenario():
        comm = WebsocketCommunicator(LiveConsumer.as_asgi(), f"/ws/live/?market={vol.symbol}")
        comm.scope["user"] = named.user
        connected, _ = await comm.connect()
        assert connected
        said = await receive_all(comm)
        await database_sync_to_async(push_notifications)([named.notification.pk])
        await database_sync_to_async(push_ticks)([vol.pk])
        await database_sync_to_async(push_signals)([vol.pk])
        said += await receive_all(comm)
        await comm.disconnect()
        return said

    said = async_to_sync(scenario)()
    assert f"<strong>{ESCAPED}</strong><span>{ESCAPED}</span>" in said, "the toast names the notification"
    assert_escaped(said, "the socket")


def test_every_page_that_shows_names_escapes_them(named, client, admin_user):
    client.force_login(named.user)
    shown = [
        reverse("trading:trade"),
        f"{reverse('trading:trade')}?market=OTC_EUR_USD",
        reverse("trading:history"),
        reverse("trading:contract", args=[named.contract.pk]),
        reverse("bots:list"),
        reverse("bots:detail", args=[named.bot.pk]),
        reverse("bots:edit", args=[named.bot.pk]),
        reverse("bots:backtests"),
        reverse("bots:backtest", args=[named.backtest.pk]),
        f"{reverse('bots:backtest_new')}?backtest={named.backtest.pk}",
        f"{reverse('bots:backtest_new')}?bot={named.bot.pk}",
        reverse("notifications:list"),
        reverse("deriv:accounts"),
    ]
    for url in shown:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.content.decode(), url)
    for url in (reverse("bots:signals"), reverse("markets:quote", args=["VOL_10"]), reverse("accounts:balance")):
        assert_escaped(client.get(url).content.decode(), url, shown=False)
    # A message that names the bot, shown on the next page.
    response = client.post(reverse("bots:stop", args=[named.bot.pk]), follow=True)
    assert_escaped(response.content.decode(), "the bot's stopped message")
    # Staff pages show market names too.
    sign_in(client, admin_user, mfa=True)
    assert_escaped(client.get(reverse("markets:feed_status")).content.decode(), "feed status", shown=False)
    assert_escaped(client.get(reverse("admin:markets_market_changelist")).content.decode(), "the admin's markets")
