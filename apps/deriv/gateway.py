"""How web and worker processes reach the Deriv connection manager: the channel layer.

    reply = gateway.buy(contract_id)          # waits for Deriv's answer; None if none came in time
    gateway.buy_many([id, id, ...])           # bots: hand the orders over, do not wait
    gateway.unlinked(user_id)                 # close that trader's sockets now

The manager (apps.deriv.manager, run by `manage.py run_deriv`) listens on one channel, MANAGER_CHANNEL.
A request carries this process's reply channel (`new_channel`, made once) and
a request id, and the caller waits for the answer with that id, with a
timeout: plain request/reply over the layer the live pages already use (Redis
in production), no broker of our own. A message
sent while no manager listens is lost; that is safe, because the order stays
PENDING and unsent, and whoever gives up on it (this caller after the
timeout, or the manager's sweep) refuses it with a conditional update that
only an unsent order passes.
"""

import asyncio
import concurrent.futures
import logging
import os
import threading
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)

MANAGER_CHANNEL = "deriv.connections"
BUY, BUY_MANY, UNLINKED, PING = "deriv.buy", "deriv.buy_many", "deriv.unlinked", "deriv.ping"


def reply_timeout() -> float:
    """Long enough for a proposal and a buy on a slow day; the trader waits this long at most."""
    return float(settings.DERIV.get("BUY_TIMEOUT_S", 15))


class _Requester:
    """This process's side of the conversation: one event loop thread, one reply channel, replies by id.

    One long-lived reply channel rather than one per request: a pub/sub layer
    subscribes a new channel on a fresh connection whose reader first naps for
    a tenth of a second, which was most of a purchase's latency (bench/deriv.py).
    """

    def __init__(self, layer):
        self.layer = layer
        self.pid = os.getpid()
        self.pending: dict[str, concurrent.futures.Future] = {}
        self.loop = asyncio.new_event_loop()
        self.ready = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, name="deriv-gateway", daemon=True)
        self.thread.start()
        self.reply_channel = self.ready.result(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self._serve())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:  # closed: the channel layer was replaced (settings changed in tests)
            pass
        finally:
            self.loop.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(5)

    async def _serve(self) -> None:
        try:
            channel = await self.layer.new_channel("deriv.reply.")
        except Exception as exc:
            self.ready.set_exception(exc)
            return
        self.ready.set_result(channel)
        while True:
            message = await self.layer.receive(channel)
            future = self.pending.pop(message.get("request_id"), None)
            if future is not None and not future.done():
                future.set_result(message)

    def send(self, message: dict) -> None:
        asyncio.run_coroutine_threadsafe(self.layer.send(MANAGER_CHANNEL, message), self.loop).result(10)

    def request(self, message: dict, timeout: float) -> dict | None:
        request_id = uuid.uuid4().hex
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.pending[request_id] = future
        try:
            self.send({**message, "reply": self.reply_channel, "request_id": request_id})
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            return None
        finally:
            self.pending.pop(request_id, None)


_requester: _Requester | None = None
_requester_lock = threading.Lock()


def _get_requester() -> _Requester | None:
    global _requester
    layer = get_channel_layer()
    if layer is None:
        return None
    with _requester_lock:
        current = _requester
        if current is None or current.layer is not layer or current.pid != os.getpid():
            if current is not None and current.pid == os.getpid():
                current.close()
            _requester = current = _Requester(layer)
        return current


def close() -> None:
    """Stop this process's requester (its loop and reply channel); the next request starts a new one."""
    global _requester
    with _requester_lock:
        current, _requester = _requester, None
    if current is not None and current.pid == os.getpid():
        current.close()


def request(message: dict, *, timeout: float) -> dict | None:
    """Send `message` to the manager and wait for its answer (None after `timeout`, or without a layer)."""
    try:
        requester = _get_requester()
        return requester.request(message, timeout) if requester else None
    except Exception:
        log.warning("the Deriv connection manager could not be asked (%s)", message.get("type"), exc_info=True)
        return None


def tell(message: dict) -> bool:
    """Send `message` to the manager without waiting (False if the layer refused it)."""
    try:
        requester = _get_requester()
        if requester is None:
            return False
        requester.send(message)
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
