"""One linked Deriv trading account's authenticated socket, and the thread that does its work in order.

    session = AccountSession(manager.reply, account_id=..., user_id=..., external_id=..., link_id=...).start()
    session.post("buy", [contract_id, ...], reply_to)    # from the manager (apps.deriv.manager)
    session.close()

An AccountSession is a DerivClient whose url_provider fetches a fresh OTP URL
(through `deriv_call`, which refreshes the token once on a 401 and marks the
link disconnected when Deriv refuses it), and one worker thread that does
everything for that account in order: buys, contract updates, balance
updates, reconnects. The client's reading thread only queues messages to it.
In order matters: a contract's settlement is written before the balance
update Deriv sends after it, so the balance stream finds nothing to correct.

A purchase (`contract_buy` or the bots' `contracts_buy_many`) arrives as a
PENDING contract whose stake is already mirrored in escrow. The session claims
it (a conditional update that sets `deriv_sent_at`, so nobody sends it twice),
asks Deriv for a `proposal` on this socket (the real minimum stake and payout
come from it), then `buy`s it with `price` = the stake (the most we accept),
subscribed to its `proposal_open_contract` stream. Deriv refusing, at either
step, refuses the contract (stake back) with Deriv's reason in a trader's
words, but only when the answer says Deriv bought nothing (DEFINITE_REFUSALS:
InvalidContractProposal, InsufficientBalance, PriceMoved...). A `buy` whose
answer is late or ambiguous (no answer in time, a dropped socket, InternalError,
an error without a code) is uncertain and never sent again. The buy carries our
contract id as `passthrough`, so a late answer still opens the contract. Meanwhile
the session reads `portfolio` (open contracts), `profit_table` (sold ones: bought
and already settled) and `statement` (every buy), and records a matching contract
as bought. Matching: same symbol, contract type and price, not already recorded;
several at once are paired newest first. Only once Deriv has had UNCERTAIN_WAIT_S
(30 s after the send) to show it does the session decide the order never reached
Deriv and refuse it (stake back). The manager's sweep hands any order still
PENDING a minute after it was sent back to its session to reconcile.

Contracts are followed with their POC streams (re-subscribed by the client
after a reconnect, with a fresh OTP). A stream that cannot be had
(AlreadySubscribed on re-subscription, a rate limit) is replaced by a
one-shot POC poll every POLL_S until the contract settles. Updates are routed
by contract id: one that arrives under a subscription id the client never saw
(or without `msg_type`) reaches its contract all the same. A contract still open
WATCHDOG_GRACE_S (15 s) after its expected end is polled once whatever its stream
looks like (a live stream can be silent), then every WATCHDOG_REPOLL_S. An update
with `is_sold` is final whatever its `status`; settlement writes Deriv's result
once (apps.trading.services.venue).

Balances: the `balance` stream is applied (`deriv_balance_apply`) only while
no contract of the account is PENDING or OPEN, because while one is, Deriv's
figure and ours may differ by a settlement we have not read yet. An update that
arrives meanwhile is remembered, and once the last contract closes, the
session reads `balance` once and applies it.

Degradation: the account's DerivAccount.connection says whether its socket is
up, with a reason the trader reads (socket lost and reconnecting, token expired
or revoked, OTP refused, Deriv limiting us). While it is not CONNECTED,
`market_refusal` refuses trades on it and bots skip their decisions; when the
socket is back the account is CONNECTED again and bots trade on their next
decision. A socket that gives up (Deriv refused the token) is opened again
after RETRY_INITIAL_S, with backoff, so a re-linked account recovers by itself.
"""

import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from apps.ops.metrics import DERIV_BUDGET_USED
from apps.trading import services as trading
from apps.trading.models import HELD, Contract, Status
from apps.trading.selectors import venue_contracts_overdue

from . import adapter, budget
from .client import CLOSED, CONNECTED, FAILED, RECONNECTING, DerivClient, Subscription
from .errors import (
    AlreadySubscribed,
    ContractBuyValidationError,
    ContractCreationFailure,
    DerivAuthError,
    DerivError,
    DerivTransportError,
    Disconnected,
    InputValidationFailed,
    InsufficientBalance,
    InvalidContractProposal,
    InvalidSymbol,
    MarketIsClosed,
    OfferingsValidationError,
    PriceMoved,
    RateLimit,
    TooManySubscriptions,
    Unauthorized,
    UncertainPurchase,
    UnrecognisedRequest,
)
from .models import Connection, DerivLink
from .services import (
    REASON_RATE,
    REASON_SOCKET,
    deriv_account_connection,
    deriv_balance_apply,
    deriv_call,
    deriv_ledger_lock,
)

log = logging.getLogger(__name__)

_STOP = object()

# How a session answers a request: reply(to, payload), `to` = (reply channel, request id) or None.
Reply = Callable[[tuple[str, str] | None, dict], None]


# Answers to a `buy` that say Deriv did not buy: the order is refused at once. Any other failure
# (InternalError, an error without a code, no answer in time, a dropped socket) leaves the
# order uncertain until reconciliation finds it at Deriv or gives up on it (UNCERTAIN_WAIT_S).
# Disconnected and TooManySubscriptions are raised before anything is sent.
DEFINITE_REFUSALS = (
    InvalidContractProposal,
    PriceMoved,
    InsufficientBalance,
    ContractBuyValidationError,
    ContractCreationFailure,
    OfferingsValidationError,
    MarketIsClosed,
    InvalidSymbol,
    RateLimit,
    DerivAuthError,
    InputValidationFailed,
    UnrecognisedRequest,
    Disconnected,
    TooManySubscriptions,
)


def definite_refusal(error: DerivError) -> bool:
    """True when a buy's error means Deriv bought nothing (UncertainPurchase is a Disconnected too)."""
    return isinstance(error, DEFINITE_REFUSALS) and not isinstance(error, UncertainPurchase)


def trader_message(error: DerivError, *, market: str = "", currency: str = "") -> str:
    """Deriv's refusal of an order, as the trader reads it next to the form (the stake is back)."""
    back = " Your stake is back."
    if isinstance(error, InsufficientBalance):
        return "Deriv says your balance there does not cover this stake." + back
    if isinstance(error, InvalidContractProposal | PriceMoved):
        return "Deriv's price changed before the order reached it. Nothing was bought; try again." + back
    if isinstance(error, ContractBuyValidationError):
        return f"Deriv refused the stake: {error.message}" + back
    if isinstance(error, OfferingsValidationError):
        return f"Deriv does not offer this contract on {market or 'this market'} now ({error.message})" + back
    if isinstance(error, MarketIsClosed):
        return f"Deriv says {market or 'this market'} is closed." + back
    if isinstance(error, RateLimit):
        return REASON_RATE + back
    if isinstance(error, DerivAuthError):
        return "Deriv no longer accepts Nexus's access to this account. Link Deriv again." + back
    if isinstance(error, DerivTransportError):
        return "Deriv could not be reached. Nothing was bought." + back
    return f"Deriv refused the order ({error.code})." + back


class AccountSession:
    """One Deriv trading account's socket and the thread that does its work in order."""

    POLL_S = 2.0  # contracts without a live stream are asked about this often
    TICK_S = 0.5
    CONNECT_WAIT_S = 3.0  # an order waits this long for a socket that is coming back
    RECONCILE_WAIT_S = 10.0
    RETRY_INITIAL_S, RETRY_MAX_S = 2.0, 60.0  # opening the socket again after Deriv refused it
    RATE_COOLOFF_S = 5.0  # at least; after Deriv's RateLimit, as long as the client's budget cools off (a minute)
    # An uncertain buy is refunded only once Deriv has had this long to show it (portfolio,
    # profit_table, statement); until then it is looked for again every RECONCILE_EVERY_S.
    UNCERTAIN_WAIT_S = 30.0
    RECONCILE_EVERY_S = 2.0
    # The watchdog: a contract still open this long after its expected end (apps.trading.selectors.
    # venue_expected_end) is asked about once with a one-shot POC, whatever its stream looks like,
    # then again every WATCHDOG_REPOLL_S while it stays open.
    WATCHDOG_GRACE_S = 15.0
    WATCHDOG_EVERY_S = 2.0
    WATCHDOG_REPOLL_S = 60.0

    def __init__(
        self,
        reply_with: Reply,
        *,
        account_id: int,
        user_id: int,
        external_id: str,
        link_id: int,
        client_options: dict | None = None,
    ):
        self.reply_with = reply_with  # the manager's: answers go back over the channel layer
        self.account_id, self.user_id, self.external_id, self.link_id = account_id, user_id, external_id, link_id
        self.client_options = dict(client_options or {})
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.client: DerivClient | None = None
        self.balance_sub: Subscription | None = None
        self.followed: dict[int, Subscription | None] = {}  # contract pk -> its POC stream (None: polled)
        self.entry_known: set[int] = set()
        self.uncertain: list[int] = []  # buys whose answer never came, oldest first
        self.last_reconcile = 0.0
        self.last_watchdog = 0.0
        self.watchdog_polled: dict[int, float] = {}  # contract pk -> when the watchdog last asked
        self.deferred_balance = False
        self.rate_limited_until = 0.0
        self.retry_at = 0.0
        self.retry_delay = self.RETRY_INITIAL_S
        self.last_poll = 0.0
        self.last_error = ""
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"deriv-{external_id}", daemon=True)

    def __repr__(self) -> str:
        state = self.client.state if self.client else "new"
        return f"<AccountSession {self.external_id} {state}>"

    # ------------------------------------------------------------------ lifecycle (manager thread)

    def start(self) -> "AccountSession":
        self.thread.start()
        return self

    def post(self, *item) -> None:
        self.inbox.put(item)

    def close(self, *, wait: float = 5.0) -> None:
        self.stopping.set()
        self.inbox.put((_STOP,))
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(wait)

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    # ------------------------------------------------------------------ the worker thread

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                self._ensure_client()
                try:
                    item = self.inbox.get(timeout=self.TICK_S)
                except queue.Empty:
                    item = None
                if item is not None and item[0] is _STOP:
                    break
                try:
                    if item is not None:
                        self._handle(*item)
                    self._tick()
                except Exception:
                    log.exception("Deriv session %s: a step failed", self.external_id)
                    close_old_connections()
        finally:
            if self.client is not None:
                self.client.close()
            connection.close()

    def _handle(self, kind, *args) -> None:
        if kind == "buy":
            self._buy(*args)
        elif kind == "poc":
            self._on_poc(*args)
        elif kind == "poc_lost":
            self._on_poc_lost(*args)
        elif kind == "balance":
            self._on_balance(*args)
        elif kind == "state":
            self._on_state(*args)
        elif kind == "unmatched":
            self._on_unmatched(*args)
        elif kind == "reconcile":
            self._on_reconcile(*args)

    def _tick(self) -> None:
        now = time.monotonic()
        if self.rate_limited_until and now >= self.rate_limited_until:
            self.rate_limited_until = 0.0
            if self.connected:
                deriv_account_connection(account_id=self.account_id, connected=True)
        if not self.connected:
            return
        if self.uncertain and now - self.last_reconcile >= self.RECONCILE_EVERY_S:
            self._reconcile()
        if now - self.last_poll >= self.POLL_S:
            self.last_poll = now
            self._poll_unfollowed()
        if now - self.last_watchdog >= self.WATCHDOG_EVERY_S:
            self.last_watchdog = now
            self._watchdog()
        if self.deferred_balance and not self._held():
            self._read_balance()
        for group, used in self.client.budget.used().items():
            DERIV_BUDGET_USED.labels(account=str(self.account_id), group=group).set(used)

    # ------------------------------------------------------------------ the socket

    def _otp_url(self) -> str:
        """A fresh one-time socket URL (the client asks for one on every (re)connect)."""
        try:
            link = DerivLink.objects.filter(pk=self.link_id).first()
            if link is None:
                raise Unauthorized("Deriv was unlinked")
            return deriv_call(link=link, call=lambda api: api.otp_url(self.external_id))
        finally:
            if threading.current_thread() is not self.thread:
                connection.close()  # the client's reading thread: no connection left open there

    def _ensure_client(self) -> None:
        if self.stopping.is_set():
            return
        if self.client is not None and self.client.state not in (FAILED, CLOSED):
            return
        if time.monotonic() < self.retry_at:
            return
        if self.client is not None:
            self.client.close()
        options = {"name": f"deriv-{self.external_id}", **self.client_options}
        self.client = DerivClient(
            url_provider=self._otp_url, on_state=self._state_changed, on_unmatched=self._unmatched, **options
        )
        self.balance_sub = None
        self.followed = {pk: None for pk in self.followed}  # the old socket's streams died with it
        try:
            self.client.connect()
        except DerivError as exc:
            self.client.close()
            self.client = None
            self.last_error = exc.code
            self._schedule_retry()
            self._mark_down(exc)
            log.warning("Deriv session %s: cannot connect (%s)", self.external_id, exc.code)
            return
        self.retry_delay = self.RETRY_INITIAL_S
        self._on_connected()

    def _schedule_retry(self) -> None:
        self.retry_at = time.monotonic() + self.retry_delay
        self.retry_delay = min(self.RETRY_MAX_S, self.retry_delay * 2)

    def _state_changed(self, state: str, reason: str) -> None:
        """The client's state callback (its reading thread, or ours during connect): queue it."""
        self.post("state", state, reason)

    def _on_state(self, state: str, reason: str) -> None:
        if self.client is None:
            return
        if state == CONNECTED and self.client.connected:
            if not self.rate_limited_until:
                deriv_account_connection(account_id=self.account_id, connected=True)
            # Streams come back by themselves; what the outage hid is settled by the first answers.
            if self.uncertain:
                self._reconcile()
            if self.balance_sub is None or not self.balance_sub.active:
                self._subscribe_balance()
        elif state == RECONNECTING:
            deriv_account_connection(account_id=self.account_id, connected=False, reason=REASON_SOCKET)
        elif state == FAILED:
            self._schedule_retry()
            self._mark_down(None)

    def _mark_down(self, error: DerivError | None) -> None:
        link = DerivLink.objects.filter(pk=self.link_id).values_list("connection", "reason").first()
        if link and link[0] != Connection.CONNECTED and link[1]:
            reason = link[1]  # deriv_call's words: expired, revoked, no trade scope, rate-limited, down
        elif isinstance(error, RateLimit):
            reason = REASON_RATE
        else:
            reason = REASON_SOCKET
        deriv_account_connection(account_id=self.account_id, connected=False, reason=reason)

    def _on_connected(self) -> None:
        deriv_account_connection(account_id=self.account_id, connected=True)
        self._subscribe_balance()
        # Orders a previous run sent without an answer are reconciled before anything else.
        held = Contract.objects.filter(account_id=self.account_id, at_deriv=True, status__in=HELD)
        for pk, status, sent in held.values_list("pk", "status", "deriv_sent_at").order_by("pk"):
            if status == Status.PENDING and sent is not None and pk not in self.uncertain:
                self.uncertain.append(pk)
        if self.uncertain:
            self._reconcile()
        self._follow_open()
        # Orders handed over while no socket was up, still young enough to buy.
        young = timezone.now() - timedelta(seconds=trading.SEND_DEADLINE_S)
        waiting = held.filter(status=Status.PENDING, deriv_sent_at=None, purchased_at__gte=young)
        ids = list(waiting.values_list("pk", flat=True).order_by("pk"))
        if ids:
            self._buy(ids, None)

    def _subscribe_balance(self) -> None:
        try:
            self.balance_sub = self.client.subscribe(
                adapter.balance_request(), functools.partial(self.post, "balance"), on_error=self._balance_lost
            )
        except DerivError as exc:
            log.warning("Deriv session %s: no balance stream (%s)", self.external_id, exc.code)

    def _balance_lost(self, error: DerivError) -> None:
        log.warning("Deriv session %s: balance stream ended (%s)", self.external_id, error.code)
        self.balance_sub = None

    # ------------------------------------------------------------------ buying

    def _buy(self, contract_ids: list[int], reply: tuple[str, str] | None) -> None:
        for pk in contract_ids:
            status = self._buy_one(pk)
            if reply:
                self.reply_with(reply, {"contract_id": pk, "status": status})

    def _wait_connected(self, timeout: float) -> bool:
        self._ensure_client()
        deadline = time.monotonic() + timeout
        while not self.connected and time.monotonic() < deadline and not self.stopping.is_set():
            if self.client is not None and self.client.state == FAILED:
                return False
            time.sleep(0.05)
        return self.connected

    def _buy_one(self, pk: int) -> str:
        if self.uncertain:
            self._reconcile()  # never buy past an order whose fate is unknown
            if self.uncertain:
                return self._refuse_unsent(pk, "Deriv has not confirmed an earlier order yet. Nothing was bought.")
        if self.rate_limited_until:
            return self._refuse_unsent(pk, REASON_RATE + " Your stake is back.")
        if not self._wait_connected(self.CONNECT_WAIT_S):
            return self._refuse_unsent(pk, "Nexus is not connected to Deriv right now. Your stake is back.")
        contract = trading.deriv_contract_claim(contract_id=pk)
        if contract is None:
            return Contract.objects.filter(pk=pk).values_list("status", flat=True).first() or "missing"
        market, currency = contract.market, contract.account.currency
        try:
            proposal = adapter.parse_proposal(
                self.client.call(
                    adapter.proposal_request(
                        symbol=market.symbol,
                        direction=contract.direction,
                        stake=contract.stake,
                        duration=contract.duration,
                        duration_unit=contract.duration_unit,
                        currency=currency,
                    )
                )
            )
        except DerivError as exc:
            return self._refused(pk, exc, market.name, currency)
        if proposal.min_stake is not None and contract.stake < proposal.min_stake:
            note = f"The minimum stake on {market.name} at Deriv is {proposal.min_stake} {currency}."
            return self._refuse(pk, note + " Your stake is back.")
        if proposal.max_payout is not None and proposal.payout > proposal.max_payout:
            note = f"Deriv pays at most {proposal.max_payout} {currency} on {market.name}: lower the stake."
            return self._refuse(pk, note + " Your stake is back.")
        try:
            answer, sub = self.client.buy(
                adapter.buy_request(proposal.id, contract.stake, order=pk),
                functools.partial(self._poc_message, pk),
                on_error=functools.partial(self._poc_error, pk),
            )
        except DerivError as exc:
            if definite_refusal(exc):
                return self._refused(pk, exc, market.name, currency)
            # Late, lost or ambiguous: Deriv may have bought it. A late answer still opens it
            # (_on_unmatched); otherwise reconciliation decides, never a second buy.
            log.warning(
                "Deriv session %s: the buy of contract %s is uncertain (%s); reconciling",
                self.external_id,
                pk,
                exc.code,
            )
            self.uncertain.append(pk)
            return Status.PENDING
        try:
            purchase = adapter.parse_buy(answer)
        except DerivError:
            log.warning("Deriv session %s: an unreadable buy answer for contract %s; reconciling", self.external_id, pk)
            if sub is not None:
                self.client.forget(sub)
            self.uncertain.append(pk)
            return Status.PENDING
        trading.deriv_contract_opened(contract_id=pk, purchase=purchase)
        self.followed[pk] = sub
        return Status.OPEN

    def _refused(self, pk: int, error: DerivError, market: str, currency: str) -> str:
        if isinstance(error, RateLimit):
            cooling = self.client.budget.cooling_left(group=budget.PRICING) if self.client else 0.0
            self.rate_limited_until = time.monotonic() + max(self.RATE_COOLOFF_S, cooling)
            deriv_account_connection(account_id=self.account_id, connected=False, reason=REASON_RATE)
        log.info("Deriv session %s: contract %s refused (%s)", self.external_id, pk, error.code)
        return self._refuse(pk, trader_message(error, market=market, currency=currency))

    def _refuse(self, pk: int, note: str) -> str:
        trading.deriv_contract_refuse(contract_id=pk, note=note)
        self._after_close()
        return Status.REFUSED

    def _refuse_unsent(self, pk: int, note: str) -> str:
        if trading.deriv_contract_refuse(contract_id=pk, note=note, unsent_only=True):
            self._after_close()
            return Status.REFUSED
        return Contract.objects.filter(pk=pk).values_list("status", flat=True).first() or "missing"

    def _on_reconcile(self, contract_ids: list[int]) -> None:
        """The manager's sweep: sent orders still PENDING long after they went out."""
        for pk in contract_ids:
            if pk not in self.uncertain:
                self.uncertain.append(pk)
        if self.uncertain and self.connected:
            self._reconcile()

    def _reconcile(self) -> None:
        """Orders sent without a clear answer: bought (found at Deriv) or, once Deriv has had
        UNCERTAIN_WAIT_S to show them, refused. Never re-sent.

        Deriv is asked three ways, since each can miss a contract: `portfolio` (open ones),
        `profit_table` (sold ones: bought and already settled) and `statement` (every buy).
        """
        self.last_reconcile = time.monotonic()
        if not self._wait_connected(self.RECONCILE_WAIT_S):
            return
        found: dict[int, adapter.PortfolioEntry | adapter.PastContract] = {}
        try:
            for entry in adapter.parse_portfolio(self.client.call(adapter.portfolio_request())):
                found.setdefault(entry.contract_id, entry)
            for entry in adapter.parse_profit_table(self.client.call(adapter.profit_table_request())):
                found.setdefault(entry.contract_id, entry)
            for entry in adapter.parse_statement_buys(self.client.call(adapter.statement_request())):
                found.setdefault(entry.contract_id, entry)
        except DerivError as exc:
            log.warning("Deriv session %s: reconciliation read failed (%s); later", self.external_id, exc.code)
            return
        known = set(
            Contract.objects.filter(deriv_contract_id__in=list(found)).values_list("deriv_contract_id", flat=True)
        )
        candidates = sorted(
            (e for e in found.values() if e.contract_id not in known),
            key=lambda e: (e.purchase_time or 0, e.contract_id),
            reverse=True,
        )
        give_up = timezone.now() - timedelta(seconds=self.UNCERTAIN_WAIT_S)
        for pk in list(self.uncertain):
            contract = Contract.objects.select_related("market").filter(pk=pk).first()
            if contract is None or contract.status != Status.PENDING:
                self.uncertain.remove(pk)
                continue
            match = next((e for e in candidates if self._same_order(e, contract)), None)
            if match is None:
                if contract.deriv_sent_at is None or contract.deriv_sent_at <= give_up:
                    self.uncertain.remove(pk)
                    log.warning("Deriv session %s: contract %s was not bought at Deriv", self.external_id, pk)
                    self._refuse(pk, "Deriv did not take the order (the connection dropped). Your stake is back.")
                continue  # Deriv may still show it: asked again later
            candidates.remove(match)
            self.uncertain.remove(pk)
            purchase = adapter.Purchase(
                contract_id=match.contract_id,
                transaction_id=match.transaction_id,
                buy_price=match.buy_price,
                payout=match.payout if match.payout is not None else contract.payout,
                balance_after=Decimal(0),
                purchase_time=match.purchase_time,
                start_time=match.purchase_time,
                longcode="",
                shortcode="",
            )
            log.info("Deriv session %s: contract %s was bought as %s", self.external_id, pk, match.contract_id)
            trading.deriv_contract_opened(contract_id=pk, purchase=purchase)
            self._follow(pk, match.contract_id)  # a sold one's first answer is its final word

    @staticmethod
    def _same_order(entry, contract: Contract) -> bool:
        """Same symbol, contract type and price (matching is all reconciliation has: see the module doc)."""
        wanted = adapter.contract_type(contract.direction)
        if isinstance(entry, adapter.PastContract):
            same = entry.matches(symbol=contract.market.symbol, contract_type=wanted)
        else:
            same = entry.symbol == contract.market.symbol and entry.contract_type == wanted
        return same and Decimal(entry.buy_price).quantize(Decimal("0.01")) == contract.stake

    def _unmatched(self, message: dict) -> None:
        self.post("unmatched", message)  # the client's reading thread: no database there

    def _on_unmatched(self, message: dict) -> None:
        """A message no waiting call or known stream claimed: a late buy answer, or a contract
        update under a subscription id we never saw. Routed by what it says."""
        msg_type = message.get("msg_type")
        if msg_type == "buy":
            self._late_buy(message)
        elif msg_type == "proposal_open_contract":
            body = message.get("proposal_open_contract")
            deriv_id = body.get("contract_id") if isinstance(body, dict) else None
            pk = self._pk_of(deriv_id)
            if pk is not None:
                self._on_poc(pk, message)

    def _late_buy(self, message: dict) -> None:
        pk = adapter.passthrough_order(message)
        try:
            purchase = adapter.parse_buy(message)
        except DerivError as exc:
            log.warning("Deriv session %s: an unreadable late buy answer (%s)", self.external_id, exc.code)
            return
        if pk is None:
            return
        current = Contract.objects.filter(pk=pk, account_id=self.account_id).values_list("status", "deriv_contract_id")
        row = current.first()
        if row is None:
            return
        if row == (Status.OPEN, purchase.contract_id):
            return  # reconciliation found it first
        if row[0] != Status.PENDING:
            log.error(
                "Deriv session %s: Deriv bought contract %s late (Deriv %s) but it is %s here",
                self.external_id,
                pk,
                purchase.contract_id,
                row[0],
            )
            return
        log.info("Deriv session %s: a late answer opened contract %s", self.external_id, pk)
        if pk in self.uncertain:
            self.uncertain.remove(pk)
        trading.deriv_contract_opened(contract_id=pk, purchase=purchase)
        self._follow(pk, purchase.contract_id)

    def _pk_of(self, deriv_id) -> int | None:
        if not isinstance(deriv_id, int | str) or not str(deriv_id).isdigit():
            return None
        return (
            Contract.objects.filter(account_id=self.account_id, deriv_contract_id=int(deriv_id))
            .values_list("pk", flat=True)
            .first()
        )

    # ------------------------------------------------------------------ following contracts

    def _follow_open(self) -> None:
        rows = Contract.objects.filter(
            account_id=self.account_id, at_deriv=True, status=Status.OPEN, deriv_contract_id__isnull=False
        ).values_list("pk", "deriv_contract_id")
        for pk, deriv_id in rows:
            sub = self.followed.get(pk)
            if sub is None or not sub.active:
                self._follow(pk, deriv_id)

    def _follow(self, pk: int, deriv_id: int) -> None:
        try:
            self.followed[pk] = self.client.subscribe(
                adapter.open_contract_request(deriv_id),
                functools.partial(self._poc_message, pk),
                on_error=functools.partial(self._poc_error, pk),
            )
        except DerivError as exc:
            # AlreadySubscribed: streamed under an id we lost; anything else: ask again later. Poll meanwhile.
            log.warning("Deriv session %s: cannot stream contract %s (%s); polling", self.external_id, pk, exc.code)
            self.followed[pk] = None

    def _poc_message(self, pk: int, message: dict) -> None:
        self.post("poc", pk, message)  # the client's reading thread: no database there

    def _poc_error(self, pk: int, error: DerivError) -> None:
        self.post("poc_lost", pk, error)

    def _on_poc_lost(self, pk: int, error: DerivError) -> None:
        if pk in self.followed:
            self.followed[pk] = None
            log.warning("Deriv session %s: contract %s stream ended (%s); polling", self.external_id, pk, error.code)
            if not isinstance(error, AlreadySubscribed):
                self.last_poll = 0.0

    def _on_poc(self, pk: int, message: dict) -> None:
        if message.get("msg_type") != "proposal_open_contract":
            return  # the buy answer that opened the stream
        try:
            poc = adapter.parse_open_contract(message)
        except (DerivError, TypeError, ValueError, AttributeError) as exc:
            log.warning("Deriv session %s: ignored a malformed contract update (%s)", self.external_id, exc)
            return
        if poc is None:
            return
        deriv_id = Contract.objects.filter(pk=pk).values_list("deriv_contract_id", flat=True).first()
        if deriv_id is not None and poc.contract_id != deriv_id:
            # Another contract's update on this stream (an all-contracts stream, a reused id): route by its id.
            other = self._pk_of(poc.contract_id)
            if other is None:
                return
            pk = other
        if poc.is_settled:
            trading.deriv_contract_settle(contract_id=pk, poc=poc)
            if Contract.objects.filter(pk=pk, status=Status.OPEN).exists():
                return  # final without a price: the watchdog asks again
            self._unfollow(pk)
            self.watchdog_polled.pop(pk, None)
            self._after_close()
        elif poc.entry_spot is not None and pk not in self.entry_known:
            self.entry_known.add(pk)
            trading.deriv_contract_entry(contract_id=pk, spot=poc.entry_spot, epoch=poc.entry_spot_time)

    def _unfollow(self, pk: int) -> None:
        sub = self.followed.pop(pk, None)
        self.entry_known.discard(pk)
        if sub is not None and sub.active and self.client is not None:
            with contextlib.suppress(DerivError):
                self.client.forget(sub, timeout=2.0)

    def _poll_unfollowed(self) -> None:
        polled = [pk for pk, sub in self.followed.items() if sub is None or not sub.active]
        if not polled:
            return
        ids = dict(Contract.objects.filter(pk__in=polled).values_list("pk", "deriv_contract_id"))
        for pk in polled:
            deriv_id = ids.get(pk)
            if deriv_id is None:
                self.followed.pop(pk, None)
                continue
            try:
                answer = self.client.call(adapter.open_contract_request(deriv_id, subscribe=False))
            except budget.OverBudget:
                break  # polls give way to orders: the rest wait for the next round
            except DerivError as exc:
                log.warning("Deriv session %s: contract %s poll failed (%s)", self.external_id, pk, exc.code)
                continue
            self._on_poc(pk, answer)

    def _watchdog(self) -> None:
        """Contracts still open WATCHDOG_GRACE_S past their expected end are asked about once (a
        one-shot POC), whatever their stream looks like: a stream can be live and silent."""
        now = time.monotonic()
        overdue = venue_contracts_overdue(past_end=timedelta(seconds=self.WATCHDOG_GRACE_S), account_id=self.account_id)
        for row in overdue:
            last = self.watchdog_polled.get(row.contract_id)
            if row.venue_contract_id is None or (last is not None and now - last < self.WATCHDOG_REPOLL_S):
                continue
            self.watchdog_polled[row.contract_id] = now
            log.warning(
                "Deriv session %s: contract %s is still open past its end; asking Deriv",
                self.external_id,
                row.contract_id,
            )
            try:
                answer = self.client.call(adapter.open_contract_request(row.venue_contract_id, subscribe=False))
            except DerivError as exc:
                log.warning(
                    "Deriv session %s: contract %s poll failed (%s)", self.external_id, row.contract_id, exc.code
                )
                continue
            self._on_poc(row.contract_id, answer)

    # ------------------------------------------------------------------ balances

    def _held(self) -> bool:
        return Contract.objects.filter(account_id=self.account_id, at_deriv=True, status__in=HELD).exists()

    def _on_balance(self, message: dict) -> None:
        try:
            balance = adapter.parse_balance(message)
        except (DerivError, TypeError, ValueError, AttributeError) as exc:
            log.warning("Deriv session %s: ignored a malformed balance update (%s)", self.external_id, exc)
            return
        self._apply_balance(balance.balance)

    def _read_balance(self) -> None:
        try:
            balance = adapter.parse_balance(self.client.call(adapter.balance_request(subscribe=False)))
        except DerivError as exc:
            log.warning("Deriv session %s: balance read failed (%s)", self.external_id, exc.code)
            return
        self._apply_balance(balance.balance)

    def _apply_balance(self, amount: Decimal) -> None:
        """Mirror Deriv's balance, unless a contract of ours is in flight (then later, read afresh)."""
        from apps.accounts.models import TradingAccount

        account = TradingAccount.objects.select_related("ledger_account").get(pk=self.account_id)
        with transaction.atomic():
            # The ledger rows first (the account's and its Deriv world, in the ledger's lock order): a
            # purchase writing its stake now is either done (and its contract seen as held below) or
            # waits for us, so Deriv's figure and ours are never mixed up.
            deriv_ledger_lock(account=account)
            if self._held():
                self.deferred_balance = True
                return
            self.deferred_balance = False
            deriv_balance_apply(account=account, balance=amount, source="stream")

    def _after_close(self) -> None:
        if self.deferred_balance and self.connected and not self._held():
            self._read_balance()
