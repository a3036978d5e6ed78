"""One WebSocket per browser tab: the user's own group plus the markets the page shows.

Signed-in users only: anonymous sockets are closed (every live page needs a
sign-in). The consumer holds no business logic: it checks what a client
asks for, joins groups, and forwards the fragments pushed to them that its
page shows: the page declares its live parts (`?parts=balance,bell,...`,
checked against `push.PARTS`), and every pushed message carries its
fragments by part, so htmx never gets a fragment with no place on the page
(each of which it reports as `htmx:oobErrorNoTarget`). Its limits
(messages per second, sockets per user, closing when the session ends) are
counted in `limits.py`.
"""

import asyncio
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.ops.metrics import WS_CONNECTIONS, WS_TICKS_DROPPED

from . import limits
from .push import STATE_PARTS, is_part, market_group, part_wanted, render_user_state, user_group

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 2048
MAX_MARKETS = 8
MAX_PARTS = 24


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user_id = user.pk
        self.dropped = 0
        self.groups_joined: set[str] = {user_group(user.pk)}
        self.parts = _declared_parts(self.scope)
        self.rate = limits.MessageRate()
        # Whether a render asked for by `state_stale` waits to start, the renders under way,
        # and the lock that keeps renders in order.
        self.stale = False
        self.renders: set[asyncio.Future] = set()
        self.rendering = asyncio.Lock()
        self.session = limits.session_digest(getattr(self.scope.get("session"), "session_key", None))
        self.slot = limits.SocketSlot(user_id=user.pk, channel_name=self.channel_name)
        await self.accept()
        WS_CONNECTIONS.inc()
        if not await self.slot.claim():
            logger.info("user %s is at the socket limit", user.pk)
            await self.close(code=limits.CLOSE_CODE, reason=limits.TOO_MANY_SOCKETS)
            return
        await self._join(user_group(user.pk))
        symbol = _query_param(self.scope, "market")
        if symbol:
            await self._subscribe(symbol)
        await self._resync()
        self.rejoin_task = asyncio.ensure_future(self._rejoin_forever())

    async def disconnect(self, code):
        if hasattr(self, "slot"):  # accepted: anonymous sockets are closed before
            WS_CONNECTIONS.dec()
        task = getattr(self, "rejoin_task", None)
        if task:
            task.cancel()
        for render in getattr(self, "renders", ()):
            render.cancel()
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
        if slot := getattr(self, "slot", None):
            await slot.release()

    async def receive(self, text_data=None, bytes_data=None):
        if not self.rate.allow():
            logger.info("closed the socket of user %s: too many messages", self.user_id)
            await self.close(code=limits.CLOSE_CODE, reason=limits.TOO_MANY_MESSAGES)
            return
        if bytes_data is not None or text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            logger.info("ignored oversized or binary message from user %s", self.user_id)
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            logger.info("ignored malformed message from user %s", self.user_id)
            return
        if not isinstance(message, dict):
            logger.info("ignored non-object message from user %s", self.user_id)
            return
        if isinstance(message.get("subscribe"), str):
            await self._subscribe(message["subscribe"])
        elif isinstance(message.get("unsubscribe"), str):
            await self._leave(market_group(message["unsubscribe"]))
        elif message.get("resync"):
            await self._resync()
        else:
            logger.info("ignored unknown message from user %s", self.user_id)

    async def dispatch(self, message):
        # Pushed fragments touch no database: skip the per-message hop to a
        # thread that closes old DB connections (half of daphne's time per
        # delivery at 1,000 sockets in bench/fanout.py).
        if message["type"] == "push.html":
            await self.push_html(message)
        elif message["type"] == "state.stale":
            await self.state_stale(message)
        else:
            await super().dispatch(message)

    async def session_end(self, event):
        """The user signed out, or changed their password: the sockets of that session (or every other) close."""
        if limits.session_end_closes(event, self.session):
            await self.close(code=limits.SESSION_ENDED_CODE, reason=event.get("reason") or limits.SESSION_ENDED)

    async def push_html(self, event):
        expires = event.get("expires")
        if expires is not None and time.time() > expires:
            self.dropped += 1
            WS_TICKS_DROPPED.inc()
            return
        parts = event.get("parts")
        if isinstance(parts, dict) and (html := self._shown(parts)):
            await self.send(text_data=html)

    async def state_stale(self, event):
        """The user's state changed (a purchase): this page's parts are rendered again, here.

        Once for any number of these that arrive before the render starts: it
        reads the database after all of them committed. Renders run one at a
        time, so a later one never lands before an earlier one.
        """
        if self.stale:
            return
        self.stale = True
        render = asyncio.ensure_future(self._render_stale())
        self.renders.add(render)
        render.add_done_callback(self.renders.discard)

    async def _render_stale(self) -> None:
        async with self.rendering:
            self.stale = False
            try:
                await self._render()
            except Exception:
                logger.warning("re-rendering the state of user %s failed", self.user_id, exc_info=True)

    def _shown(self, parts: dict[str, str]) -> str:
        """The fragments of the parts this socket's page shows, in the order they came."""
        return "".join(html for part, html in parts.items() if part_wanted(part, self.parts))

    async def _subscribe(self, symbol: str) -> None:
        markets = {g for g in self.groups_joined if g.startswith("market.")}
        if len(markets) >= MAX_MARKETS and market_group(symbol) not in markets:
            logger.info("user %s is at the market subscription limit", self.user_id)
            return
        if not await _market_is_active(symbol):
            logger.info("user %s asked for unknown or inactive market %r", self.user_id, symbol[:40])
            return
        await self._join(market_group(symbol))
        if part_wanted("quote", self.parts):
            await self.send(text_data=await _render_quote(symbol))

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.groups_joined and group.startswith("market."):
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)

    async def _resync(self) -> None:
        """The true state from the database: nothing the page showed before is trusted."""
        async with self.rendering:
            await self._render()

    async def _render(self) -> None:
        if html := self._shown(await _render_user_state(self.user_id, self.parts)):
            await self.send(text_data=html)

    async def _rejoin_forever(self) -> None:
        """Re-join now and then: memberships expire in the layer and vanish if Redis restarts."""
        while True:
            await asyncio.sleep(settings.NEXUS["WS_REJOIN_SECONDS"])
            try:
                for group in list(self.groups_joined):
                    await self.channel_layer.group_add(group, self.channel_name)
                await self.slot.refresh()
            except Exception:
                logger.warning("re-joining groups failed; will retry", exc_info=True)


def _query_param(scope, name: str, *, max_length: int = 40) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0][:max_length] if values else None


def _declared_parts(scope) -> frozenset[str]:
    """The live parts the page declared (`?parts=a,b`), the unknown ones left out.

    A socket that declares none (a client from before parts existed) gets
    every part it always did (`billing`, newer, only when declared).
    """
    declared = _query_param(scope, "parts", max_length=400)
    if declared is None:
        return STATE_PARTS
    names = [name.strip() for name in declared.split(",") if name.strip()][:MAX_PARTS]
    if unknown := [name[:40] for name in names if not is_part(name)]:
        logger.info("ignored unknown live parts %s", unknown)
    return frozenset(name for name in names if is_part(name))


@database_sync_to_async
def _market_is_active(symbol: str) -> bool:
    from apps.markets.models import Market

    return Market.objects.filter(symbol=symbol, is_active=True).exists()


@database_sync_to_async
def _render_quote(symbol: str) -> str:
    from apps.markets.fragments import tick_fragment
    from apps.markets.models import Market

    return tick_fragment(Market.objects.get(symbol=symbol))


@database_sync_to_async
def _render_user_state(user_id: int, wanted: frozenset[str]) -> dict[str, str]:
    from django.contrib.auth import get_user_model

    return render_user_state(get_user_model().objects.get(pk=user_id), wanted)
