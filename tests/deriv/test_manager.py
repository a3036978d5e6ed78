"""The Deriv connection manager itself: sessions per linked account, run_deriv, restarts, and orders nobody sent."""

import io
import os
import signal
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.deriv import gateway, services
from apps.deriv.manager import DerivConnections
from apps.deriv.models import Connection, DerivAccount
from apps.markets.models import Source, Tick
from apps.trading.models import Contract, Status

from .conftest import wait_for
from .support import Manager, buy, deriv, deriv_market, ledger_balance, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_socket_per_linked_account_each_with_its_balance_stream(trader, manager, deriv_on):
    demo, real = deriv(trader, AccountType.DERIV_DEMO), deriv(trader, AccountType.DERIV_REAL)
    for account in (demo, real):
        session = manager.session(account)
        wait_for(lambda s=session: s.connected and s.balance_sub is not None, timeout=10)
    assert deriv_on.socket_count("demo") == 1 and deriv_on.socket_count("real") == 1
    assert len(deriv_on.requests("balance")) == 2


def test_the_balance_stream_applies_a_change_made_at_deriv(trader, account, deriv_on):
    deriv_on.set_balance(account.external_id, "9876.54")
    wait_for(lambda: ledger_balance(account) == Decimal("9876.54"))
    assert DerivAccount.objects.get(trading_account=account).balance_source == "stream"


def test_a_balance_change_while_a_contract_is_open_waits_for_it_to_settle(trader, account, deriv_on):
    contract = buy(trader, account, deriv_market())
    deriv_on.set_balance(account.external_id, deriv_on.balance(account.external_id) + Decimal("100"))
    time.sleep(0.3)
    # Not applied yet: Deriv's figure and ours may differ by this contract's result.
    assert ledger_balance(account) == Decimal("9990.00")
    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: ledger_balance(account) == deriv_on.balance(account.external_id))


def pending(user, account, market, *, key, direction="RISE", stake="10.00", sent=True, age=timedelta(0)) -> Contract:
    """A PENDING Deriv order with its stake mirrored, as contract_buy leaves it (sent: the buy went out)."""
    from apps.ledger.models import AccountKind, TransferKind
    from apps.ledger.services import system_account, transfer

    now = timezone.now() - age
    contract = Contract.objects.create(
        user=user,
        account=account,
        market=market,
        direction=direction,
        stake=Decimal(stake),
        payout_percent=Decimal("95"),
        payout=Decimal(stake) * Decimal("1.95"),
        tie_rule="LOSE",
        duration=5,
        duration_unit="t",
        idempotency_key=key,
        purchased_at=now,
        purchase_seq=0,
        status=Status.PENDING,
        at_deriv=True,
        deriv_sent_at=now if sent else None,
    )
    escrow = system_account(kind=AccountKind.ESCROW, realm=account.ledger_account.realm, currency="USD")
    transfer(
        debit=account.ledger_account,
        credit=escrow,
        amount=Decimal(stake),
        kind=TransferKind.STAKE,
        idempotency_key=f"contract:{contract.pk}:stake",
        reference=f"contract:{contract.pk}",
    )
    return contract


def test_a_restarted_manager_reconciles_what_an_earlier_run_sent_and_never_sends_it_again(
    trader, deriv_on, redis_layer, clients
):
    from apps.deriv import adapter

    from .conftest import OtpProvider

    account = deriv(trader, AccountType.DERIV_DEMO)
    market = deriv_market()
    # What a manager that died mid-buy leaves: two orders marked sent, only one of which Deriv took.
    # Sent a minute ago: long enough for Deriv to show whatever it bought.
    bought = pending(trader, account, market, key="bought", age=timedelta(minutes=1))
    lost = pending(trader, account, market, key="lost", direction="FALL", age=timedelta(minutes=1))
    crashed = clients(url_provider=OtpProvider(deriv_on), name="crashed").connect()
    quote = adapter.parse_proposal(
        crashed.call(
            adapter.proposal_request(
                symbol="R_10", direction="RISE", stake=Decimal("10"), duration=5, duration_unit="t", currency="USD"
            )
        )
    )
    deriv_id = adapter.parse_buy(crashed.call(adapter.buy_request(quote.id, Decimal("10"), subscribe=False)))
    crashed.close()

    running = Manager().start()
    try:
        wait_for(lambda: not Contract.objects.filter(status=Status.PENDING).exists(), timeout=15)
        bought.refresh_from_db()
        lost.refresh_from_db()
        assert (bought.status, bought.deriv_contract_id) == (Status.OPEN, deriv_id.contract_id)
        assert lost.status == Status.REFUSED and "did not take the order" in lost.deriv_note
        assert len(deriv_on.requests("buy")) == 1  # only the crashed run's
        run_until_settled(deriv_on, [bought.pk])
        wait_for(lambda: ledger_balance(account) == deriv_on.balance(account.external_id))
    finally:
        running.stop()


def test_an_order_nobody_sent_in_time_is_refused_by_the_sweep(trader, deriv_on, redis_layer):
    account = deriv(trader, AccountType.DERIV_DEMO)
    contract = pending(trader, account, deriv_market(), key="lost-message", sent=False, age=timedelta(minutes=5))
    assert DerivConnections(listen=False).sweep() == 1
    contract.refresh_from_db()
    assert contract.status == Status.REFUSED and "not available in time" in contract.deriv_note
    assert not deriv_on.requests("buy")


def test_a_young_order_handed_over_while_no_socket_was_up_is_bought_when_it_comes_up(trader, deriv_on, redis_layer):
    account = deriv(trader, AccountType.DERIV_DEMO)
    contract = pending(trader, account, deriv_market(), key="young", sent=False)
    running = Manager().start()
    try:
        wait_for(lambda: Contract.objects.get(pk=contract.pk).status == Status.OPEN, timeout=10)
    finally:
        running.stop()


def test_stopping_the_manager_shows_the_accounts_disconnected(trader, deriv_on, redis_layer):
    account = deriv(trader, AccountType.DERIV_DEMO)
    running = Manager().start()
    wait_for(lambda: running.session(account).connected, timeout=10)
    running.stop()
    state = DerivAccount.objects.get(trading_account=account)
    assert (state.connection, state.reason) == (Connection.DISCONNECTED, services.REASON_STOPPED)
    wait_for(lambda: deriv_on.socket_count("demo") == 0)


def _stopped_by_sigterm(command, *args, when):
    """Run a process command here until `when()` returns (on another thread), then send this process SIGTERM."""
    from django.db import connection

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    seen, failed = {}, []

    def watch():
        try:
            seen.update(when())
        except BaseException as exc:
            failed.append(exc)
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = io.StringIO()
    try:
        call_command(command, *args, stdout=out)
    finally:
        watcher.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if failed:
        raise failed[0]
    return out.getvalue(), seen


def test_run_deriv_runs_the_connection_manager_until_sigterm(trader, deriv_on, redis_layer):
    account = deriv(trader, AccountType.DERIV_DEMO)

    def once_the_trading_socket_is_up():
        wait_for(lambda: deriv_on.socket_count("demo") == 1, timeout=20)
        wait_for(
            lambda: DerivAccount.objects.get(trading_account=account).connection == Connection.CONNECTED, timeout=10
        )
        return {"answers": gateway.ping(timeout=5)}  # it listens where web and worker ask

    out, seen = _stopped_by_sigterm("run_deriv", when=once_the_trading_socket_is_up)

    assert seen["answers"]
    assert "Deriv connection manager running" in out and out.rstrip().endswith("Deriv connection manager stopped.")
    state = DerivAccount.objects.get(trading_account=account)
    assert (state.connection, state.reason) == (Connection.DISCONNECTED, services.REASON_STOPPED)
    ours = ("deriv-connections", f"deriv-{account.external_id}")  # the listener, the session and its client
    assert not [t for t in threading.enumerate() if t.name.startswith(ours)]
    wait_for(lambda: deriv_on.socket_count("demo") == 0)


def test_run_deriv_refuses_when_deriv_is_off(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": False}

    with pytest.raises(CommandError, match="DERIV_ENABLED"):
        call_command("run_deriv")


def test_runfeed_streams_deriv_prices_without_the_connection_manager(trader, deriv_on, redis_layer, settings):
    settings.DERIV = {**settings.DERIV, "FEED_BACKFILL_TICKS": 5}
    deriv(trader, AccountType.DERIV_DEMO)  # linked: a manager would open its socket at once

    def once_the_deriv_feed_wrote():
        wait_for(lambda: Tick.objects.filter(market__source=Source.DERIV).exists(), timeout=20)
        return {"answers": gateway.ping(timeout=3), "trading_sockets": deriv_on.socket_count("demo")}

    out, seen = _stopped_by_sigterm("runfeed", "--source", "deriv", when=once_the_deriv_feed_wrote)

    assert "Deriv feed running" in out and "connection manager" not in out
    assert seen == {"answers": False, "trading_sockets": 0}
    assert not deriv_on.requests("balance")
