"""The Deriv connection manager: every linked Deriv account's session, in one process per deployment.

    manager = DerivConnections()
    manager.run_forever(should_stop)     # what `manage.py run_deriv` runs

Deriv allows 5 sockets per user and every `buy` must go out on the account's
own OTP socket (API.md §5.5, §7.1), so one long-running process owns them all
and the web and worker processes ask it through the channel layer
(apps.deriv.gateway: "deriv.buy" with a contract id and a reply channel).
Run exactly one: a second would open a second socket per account, against
Deriv's limit, and race the first for every order. `run_deriv` is its own
process, so running several feeds never starts several managers.

Per linked, active Deriv trading account there is one AccountSession
(apps.deriv.session): its authenticated socket and the thread that buys,
follows contracts and mirrors the balance in order. The manager opens and
closes sessions as links come and go (a refresh every REFRESH_S), routes the
channel layer's requests to them, and refuses orders nobody sent in time
(the sweep every SWEEP_S: their price is gone).

Unlink: `deriv_unlinked` reaches the manager through the channel layer and
the trader's sessions close at once (a refresh every REFRESH_S catches it too).
Contracts still open then stay OPEN, their stake in escrow, until the account
is linked again and the session follows them to their settlement.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import close_old_connections, connection
from django.utils import timezone

from apps.trading import services as trading
from apps.trading.models import Contract, Status

from . import gateway
from .models import Connection, DerivAccount
from .services import REASON_STOPPED, deriv_account_connection
from .session import AccountSession

log = logging.getLogger(__name__)


class DerivConnections:
    """Every linked Deriv account's session, and the channel-layer listener that feeds them."""

    REFRESH_S = 2.0  # links and unlinks are picked up this often
    SWEEP_S = 5.0
    PENDING_RECONCILE_S = 60.0

    def __init__(self, *, client_options: dict | None = None, listen: bool = True):
        self.client_options = dict(client_options or {})
        self.listen = listen
        self.sessions: dict[int, AccountSession] = {}
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        self._stop = threading.Event()
        self.last_refresh = 0.0
        self.last_sweep = 0.0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "DerivConnections":
        if self.listen and self._listener is None:
            self._listener = threading.Thread(target=self._listen_forever, name="deriv-connections-layer", daemon=True)
            self._listener.start()
            if not self._listening.wait(10):
                log.warning("Deriv connections: the channel layer listener did not start in time")
        self.refresh()
        return self

    def stop(self) -> None:
        self._stop.set()
        for session in list(self.sessions.values()):
            session.close()
        for account_id in list(self.sessions):
            deriv_account_connection(account_id=account_id, connected=False, reason=REASON_STOPPED)
        self.sessions.clear()
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
        if self._listener is not None:
            self._listener.join(5)
            self._listener = None
        connection.close()

    def run_forever(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        try:
            self.start()
            while not should_stop() and not self._stop.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("Deriv connections: a step failed")
                    close_old_connections()
                    time.sleep(0.5)
        finally:
            self.stop()

    def step(self, timeout: float = 0.2) -> None:
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            message = None
        if message is not None:
            self.route(message)
        now = time.monotonic()
        if now - self.last_refresh >= self.REFRESH_S:
            self.refresh()
        if now - self.last_sweep >= self.SWEEP_S:
            self.sweep()

    # ------------------------------------------------------------------ the channel layer

    def _listen_forever(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._listen())
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("Deriv connections: the channel layer listener stopped")
        finally:
            self.loop.close()

    async def _listen(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            log.warning("Deriv connections: no channel layer, so nothing can ask for a purchase")
            self._listening.set()
            return
        receiving = asyncio.ensure_future(layer.receive(gateway.MANAGER_CHANNEL))
        # A pub/sub layer drops what is sent before we subscribe: ping ourselves until one arrives.
        while not receiving.done():
            await layer.send(gateway.MANAGER_CHANNEL, {"type": gateway.PING})
            await asyncio.wait([receiving], timeout=0.05)
        self._listening.set()
        while not self._stop.is_set():
            message = await receiving
            self.inbox.put(message)
            receiving = asyncio.ensure_future(layer.receive(gateway.MANAGER_CHANNEL))

    def reply(self, to: tuple[str, str] | None, payload: dict) -> None:
        """Answer a request, `to` = (reply channel, request id), from any thread; best effort."""
        if to is None or self.loop is None or not self.loop.is_running():
            return
        from channels.layers import get_channel_layer

        channel, request_id = to
        layer = get_channel_layer()
        asyncio.run_coroutine_threadsafe(layer.send(channel, {**payload, "request_id": request_id}), self.loop)

    def route(self, message: dict) -> None:
        kind = message.get("type")
        reply = (message["reply"], message.get("request_id")) if message.get("reply") else None
        if kind in (gateway.BUY, gateway.BUY_MANY):
            self._route_buys([int(pk) for pk in message.get("contract_ids") or []], reply)
        elif kind == gateway.UNLINKED:
            for session in [s for s in self.sessions.values() if s.user_id == message.get("user_id")]:
                self._close(session.account_id)
        elif kind == gateway.PING:
            self.reply(reply, {"ok": True, "sessions": len(self.sessions)})

    def _route_buys(self, ids: list[int], reply: tuple[str, str] | None) -> None:
        by_account: dict[int, list[int]] = {}
        for pk, account_id in Contract.objects.filter(pk__in=ids, at_deriv=True).values_list("pk", "account_id"):
            by_account.setdefault(account_id, []).append(pk)
        for account_id, pks in by_account.items():
            session = self.sessions.get(account_id) or self._open(account_id)
            if session is not None:
                session.post("buy", pks, reply)
                continue
            for pk in pks:
                trading.deriv_contract_refuse(
                    contract_id=pk, note="This account is not linked to Deriv. Your stake is back.", unsent_only=True
                )
                if reply:
                    self.reply(reply, {"contract_id": pk, "status": Status.REFUSED})

    # ------------------------------------------------------------------ sessions

    def _linked(self):
        return DerivAccount.objects.filter(
            link__isnull=False, status="active", trading_account__type__in=("DERIV_DEMO", "DERIV_REAL")
        ).exclude(connection=Connection.UNLINKED)

    def refresh(self) -> None:
        """Open a session for every linked, active Deriv account; close the ones that went."""
        self.last_refresh = time.monotonic()
        wanted = set(self._linked().values_list("trading_account_id", flat=True))
        for account_id in set(self.sessions) - wanted:
            self._close(account_id)
        for account_id in wanted - set(self.sessions):
            self._open(account_id)

    def _open(self, account_id: int) -> AccountSession | None:
        row = (
            self._linked()
            .filter(trading_account_id=account_id)
            .values_list("trading_account__user_id", "trading_account__external_id", "link_id")
            .first()
        )
        if row is None or self._stop.is_set():
            return None
        user_id, external_id, link_id = row
        session = AccountSession(
            self.reply,
            account_id=account_id,
            user_id=user_id,
            external_id=external_id,
            link_id=link_id,
            client_options=self.client_options,
        )
        self.sessions[account_id] = session.start()
        log.info("Deriv connections: session for %s opened", external_id)
        return session

    def _close(self, account_id: int) -> None:
        session = self.sessions.pop(account_id, None)
        if session is not None:
            session.close()
            log.info("Deriv connections: session for %s closed", session.external_id)

    def sweep(self) -> int:
        """Orders nobody sent in time (no manager was listening) are refused: their price is gone.

        Orders sent and still PENDING after PENDING_RECONCILE_S (an answer lost in a way the session
        did not notice) are handed to their account's session to reconcile.
        """
        self.last_sweep = time.monotonic()
        self._reconcile_pending()
        old = timezone.now() - timedelta(seconds=trading.SEND_DEADLINE_S)
        stale = Contract.objects.filter(
            at_deriv=True, status=Status.PENDING, deriv_sent_at=None, purchased_at__lt=old
        ).values_list("pk", flat=True)
        refused = 0
        for pk in list(stale):
            refused += trading.deriv_contract_refuse(
                contract_id=pk, note="Deriv trading was not available in time. Your stake is back.", unsent_only=True
            )
        return refused

    def _reconcile_pending(self) -> None:
        sent_before = timezone.now() - timedelta(seconds=self.PENDING_RECONCILE_S)
        rows = Contract.objects.filter(at_deriv=True, status=Status.PENDING, deriv_sent_at__lt=sent_before).values_list(
            "pk", "account_id"
        )
        by_account: dict[int, list[int]] = {}
        for pk, account_id in rows.order_by("pk"):
            by_account.setdefault(account_id, []).append(pk)
        for account_id, pks in by_account.items():
            session = self.sessions.get(account_id)
            if session is not None:
                log.warning("Deriv connections: contracts %s still pending; reconciling", pks)
                session.post("reconcile", pks)
