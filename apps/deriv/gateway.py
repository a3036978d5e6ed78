"""How web and worker processes reach the Deriv connection manager: the channel layer.

    reply = gateway.buy(contract_id)          # waits for Deriv's answer; None if none came in time
    gateway.buy_many([id, id, ...])           # bots: hand the orders over, do not wait
    gateway.unlinked(user_id)                 # close that trader's sockets now

The manager (apps.deriv.connections) listens on one channel, MANAGER_CHANNEL.
A request carries a reply channel made for it (`new_channel`), and the caller
waits on that channel with a timeout: plain request/reply over the layer the
live pages already use (Redis in production), no broker of our own. A message
sent while no manager listens is lost; that is safe, because the order stays
PENDING and unsent, and whoever gives up on it (this caller after the
timeout, or the manager's sweep) refuses it with a conditional update that
only an unsent order passes.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)

MANAGER_CHANNEL = "deriv.connections"
BUY, BUY_MANY, UNLINKED, PING = "deriv.buy", "deriv.buy_many", "deriv.unlinked", "deriv.ping"


def reply_timeout() -> float:
    """Long enough for a proposal and a buy on a slow day; the trader waits this long at most."""
    return float(settings.DERIV.get("BUY_TIMEOUT_S", 15))


def request(message: dict, *, timeout: float) -> dict | None:
    """Send `message` to the manager and wait for its answer (None after `timeout`, or without a layer)."""
    layer = get_channel_layer()
    if layer is None:
        return None

    async def ask():
        reply = await layer.new_channel("deriv.reply.")
        await layer.send(MANAGER_CHANNEL, {**message, "reply": reply})
        try:
            return await asyncio.wait_for(layer.receive(reply), timeout)
        except TimeoutError:
            return None

    try:
        return async_to_sync(ask)()
    except Exception:
        log.warning("the Deriv connection manager could not be asked (%s)", message.get("type"), exc_info=True)
        return None


def tell(message: dict) -> bool:
    """Send `message` to the manager without waiting (False if the layer refused it)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.send)(MANAGER_CHANNEL, message)
    except Exception:
        log.warning("the Deriv connection manager could not be told (%s)", message.get("type"), exc_info=True)
        return False
    return True


def buy(contract_id: int, *, timeout: float | None = None) -> dict | None:
    """Ask the manager to buy this PENDING contract at Deriv; its answer {"contract_id", "status"} or None."""
    return request({"type": BUY, "contract_ids": [contract_id]}, timeout=timeout or reply_timeout())


def buy_many(contract_ids: list[int]) -> bool:
    return tell({"type": BUY_MANY, "contract_ids": list(contract_ids)})


def unlinked(user_id: int) -> bool:
    return tell({"type": UNLINKED, "user_id": user_id})


def ping(*, timeout: float = 2.0) -> bool:
    """True when a manager is listening and answering."""
    return request({"type": PING}, timeout=timeout) is not None


def on_unlinked(sender, user_id: int, **kwargs) -> None:
    """`deriv_unlinked` receiver (any process): the manager closes that trader's sockets at once."""
    unlinked(user_id)
