"""Server-rendered fragments pushed over the channel layer.

Every fragment is the partial the page itself renders; the browser's htmx
ws extension swaps each one in by id. Each message carries its fragments
by part (`parts`: {part: html}, see `PARTS`): a user's state is rendered
once per user, and each socket forwards only the parts its page declared
(`consumers.LiveConsumer`), so no page gets a fragment it has no place for.
Pushing never raises into the caller: a push is best effort, and a page
that missed one resyncs when it reconnects.
"""

import asyncio
import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib.auth import get_user_model

from apps.accounts.fragments import balance_fragment
from apps.billing.fragments import billing_fragment
from apps.bots.fragments import bots_fragments, signals_fragment
from apps.dashboard.fragments import dashboard_fragment
from apps.exchanges.fragments import exchange_fragments
from apps.markets.fragments import tick_fragment
from apps.markets.models import Market
from apps.notifications.fragments import bell_fragment, toasts_fragment
from apps.notifications.models import Notification
from apps.ops.metrics import WS_PUSHES
from apps.trading.fragments import positions_fragment

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def market_group(symbol: str) -> str:
    return f"market.{symbol}"


# A tick still undelivered this long after it was published is dropped by the
# socket: a newer one is on its way, and a backlog only makes the page lag.
TICK_TTL_S = 2.0


# The live parts a page may declare (`?parts=` on its socket's URL). A user's
# state: `balance` (the header's), `bell`, `toasts`, `positions` (the trade
# page), `bots` (every bot's status and the kill switch banner: the bots
# list), or one bot's `bots.<id>` and `bots.kill` (a bot's page), `dashboard`
# (the dashboard's cards and recent trades). A market's:
# `quote` (the tick: quote and price in the market list) and `signals` (the
# signals monitor). `billing` is the billing page's plan block, pushed on its own when the plan in
# force changes (not with every state push). `exchange.<id>` is one exchange connection's portfolio
# (equity, balances, open positions), `spotbot.<id>` one spot bot's status (`spotbot`: every one, the
# exchanges list). A part covers its dotted sub-parts (`bots` covers `bots.7`).
PARTS = frozenset(
    {
        "balance",
        "bell",
        "toasts",
        "positions",
        "bots",
        "bots.kill",
        "dashboard",
        "quote",
        "signals",
        "billing",
        "exchange",
        "spotbot",
    }
)
# The parts a push of a user's state renders (whatever changed, every page of theirs gets these).
STATE_PARTS = PARTS - {"billing"}
_BOT_PART = re.compile(r"(?:bots|exchange|spotbot)\.[1-9][0-9]{0,17}")


def is_part(name: str) -> bool:
    return name in PARTS or _BOT_PART.fullmatch(name) is not None


def part_wanted(part: str, wanted: frozenset[str]) -> bool:
    """Whether a socket that declared `wanted` shows `part` (itself, or the part it belongs to)."""
    return part in wanted or part.split(".", 1)[0] in wanted


# A send from sync code that the channel layer has not taken by then fails (a push is best effort).
SEND_TIMEOUT_S = 5.0
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for channel layer sends from sync code, in a daemon thread (a new one after a fork)."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def group_send_sync(layer, group: str, message: dict) -> None:
    """`layer.group_send` from sync code, through one event loop per process that keeps its Redis connection.

    `async_to_sync` runs each call in a new event loop, and channels_redis
    opens a Redis connection per loop: a new connection for every push (2.9 ms
    each, against 0.1 ms through one loop, measured with the Pub/Sub layer).
    The in-memory layer (no Redis) keeps `async_to_sync`: its queues belong
    to the event loop of the caller's consumer.
    """
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.group_send)(group, message)
        return
    future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop())
    try:
        future.result(timeout=SEND_TIMEOUT_S)
    except TimeoutError:
        future.cancel()
        raise


def send_group(group: str, parts: dict[str, str], *, ttl_s: float | None = None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "push.html", "parts": parts}
    if ttl_s is not None:
        message["expires"] = time.time() + ttl_s
    try:
        group_send_sync(layer, group, message)
        WS_PUSHES.labels(group=group.split(".", 1)[0]).inc()
    except Exception:
        logger.warning("push to %s failed", group, exc_info=True)


def render_user_state(user, wanted: frozenset[str] = STATE_PARTS) -> dict[str, str]:
    """The per-user fragments of the `wanted` parts (every state part by default), each rendered by its app.

    A push renders them all once for every page of the user; a socket that
    (re)connects asks for its page's only.
    """
    renders = {
        "balance": balance_fragment,
        "positions": positions_fragment,
        "bell": bell_fragment,
        "billing": billing_fragment,
        "dashboard": dashboard_fragment,
    }
    parts = {name: render(user) for name, render in renders.items() if part_wanted(name, wanted)}
    if any(name == "bots" or name.startswith("bots.") for name in wanted):
        parts |= {name: html for name, html in bots_fragments(user).items() if part_wanted(name, wanted)}
    if any(name.split(".", 1)[0] in ("exchange", "spotbot") for name in wanted):
        parts |= {name: html for name, html in exchange_fragments(user).items() if part_wanted(name, wanted)}
    return parts


def _render(what: str, render: Callable, *args):
    """One group's fragments, or None when rendering them raised.

    Every push loops over many users or markets: one render that fails (a bad
    row, a query the database refuses) is logged and skipped, and the others
    are still pushed. That page resyncs when it reconnects or reloads.
    """
    try:
        return render(*args)
    except Exception:
        logger.exception("render for %s failed; not pushed", what)
        return None


def push_user_state(user_ids: Iterable[int]) -> None:
    for user in get_user_model().objects.filter(pk__in=set(user_ids)):
        group = user_group(user.pk)
        if (parts := _render(group, render_user_state, user, STATE_PARTS)) is not None:
            send_group(group, parts)


# A user's state changed (a purchase): each of their sockets renders its own parts again.
STATE_STALE = {"type": "state.stale"}


def tell_state_stale(user_ids: Iterable[int]) -> None:
    """Tell these users' open pages that their state changed: one small message per user, no worker task.

    Each socket renders only the parts its page shows, and the messages that
    arrive while it renders are answered by one render (see
    `consumers.LiveConsumer.state_stale`); a user with no page open costs
    one message to nobody. Best effort, as every push: with the layer out of
    reach the pages resync when their sockets reconnect.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    for user_id in sorted(set(user_ids)):
        try:
            group_send_sync(layer, user_group(user_id), STATE_STALE)
        except Exception:
            logger.warning("telling user %s their state changed failed", user_id, exc_info=True)


def push_billing(user_ids: Iterable[int]) -> None:
    """The billing page's plan block, after the plan in force changed (it also ends "Activating your plan…")."""
    for user in get_user_model().objects.filter(pk__in=set(user_ids)):
        group = user_group(user.pk)
        if (html := _render(group, lambda u: billing_fragment(u, activated=True), user)) is not None:
            send_group(group, {"billing": html})


def _state_and_toasts(user, notifications: list[Notification]) -> dict[str, str]:
    return {**render_user_state(user, STATE_PARTS), "toasts": toasts_fragment(notifications)}


def push_notifications(notification_ids: list[int]) -> None:
    """Each user's fresh state plus one toast per new notification."""
    by_user = defaultdict(list)
    for notification in Notification.objects.filter(pk__in=notification_ids).select_related("user"):
        by_user[notification.user].append(notification)
    for user, notifications in by_user.items():
        group = user_group(user.pk)
        if (parts := _render(group, _state_and_toasts, user, notifications)) is not None:
            send_group(group, parts)


def push_ticks(market_ids: list[int]) -> None:
    """One render per market, one message per market group, whatever the number of viewers."""
    for market in Market.objects.filter(pk__in=market_ids):
        group = market_group(market.symbol)
        if (html := _render(group, tick_fragment, market)) is not None:
            send_group(group, {"quote": html}, ttl_s=TICK_TTL_S)


def push_signals(market_ids: list[int]) -> None:
    """Each market's latest votes and consensus, rendered once, to everyone watching it."""
    for market in Market.objects.filter(pk__in=market_ids):
        group = market_group(market.symbol)
        if (html := _render(group, signals_fragment, market)) is not None:
            send_group(group, {"signals": html})
