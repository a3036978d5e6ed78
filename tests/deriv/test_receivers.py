"""The Deriv app's answers to trading: which accounts cannot trade now, and orders handed to the manager.

The receivers are called as trading calls them (through its selector and
signals) or directly; the connection manager is replaced by recording the
gateway calls, so these tests need no channel layer.
"""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.accounts.models import AccountType
from apps.deriv import gateway, receivers, services
from apps.deriv.signals import deriv_accounts_changed
from apps.trading.models import Contract, Status
from apps.trading.selectors import account_refusals
from apps.trading.services import account_unavailable, deriv_contract_claim
from apps.trading.signals import contracts_bought

from .support import buy, deriv, deriv_market, ledger_balance


@pytest.fixture
def demo(trader):
    return deriv(trader, AccountType.DERIV_DEMO)


class Gateway:
    """What the receivers asked of the connection manager, and what it answers to `buy`."""

    def __init__(self, monkeypatch, answer=None, on_buy=None):
        self.bought, self.handed = [], []
        self.answer, self.on_buy = answer, on_buy
        monkeypatch.setattr(gateway, "buy", self.buy)
        monkeypatch.setattr(gateway, "buy_many", self.buy_many)

    def buy(self, contract_id, *, timeout=None):
        self.bought.append(contract_id)
        if self.on_buy:
            self.on_buy(contract_id=contract_id)
        return self.answer

    def buy_many(self, contract_ids):
        self.handed.append(list(contract_ids))
        return True


def pending_order(trader, account, key="order"):
    """A Deriv order written and not handed over: bought inside the test's transaction, never committed."""
    contract = buy(trader, account, deriv_market(), key=key)
    assert (contract.status, contract.deriv_sent_at) == (Status.PENDING, None)
    return contract


def test_a_connected_active_deriv_account_can_trade(demo, demo_account):
    assert account_refusals(account_ids=[demo.pk, demo_account.pk]) == {}


def test_a_disconnected_deriv_account_is_refused_with_the_reason(trader, demo):
    services.deriv_account_connection(account_id=demo.pk, connected=False, reason=services.REASON_DOWN)

    refusals = account_refusals(account_ids=[demo.pk])

    assert list(refusals) == [demo.pk]
    assert "disconnected from Deriv" in refusals[demo.pk] and services.REASON_DOWN in refusals[demo.pk]
    with pytest.raises(ValidationError) as refused:
        buy(trader, demo, deriv_market())
    assert account_unavailable(refused.value)


def test_an_unlinked_deriv_account_is_refused(trader, demo):
    services.on_unlink(user=trader)
    assert "no longer linked" in account_refusals(account_ids=[demo.pk])[demo.pk]


def test_a_waiting_purchase_is_handed_to_the_manager_and_answered(trader, demo, monkeypatch):
    contract = pending_order(trader, demo)
    manager = Gateway(monkeypatch, answer={"contract_id": contract.pk, "status": "open"})

    contracts_bought.send(sender=Contract, contract_ids=[contract.pk], user_ids=[trader.pk], wait=True)

    assert (manager.bought, manager.handed) == ([contract.pk], [])
    assert Contract.objects.get(pk=contract.pk).status == Status.PENDING  # the manager's to finish


def test_a_waiting_purchase_nobody_took_is_refused_and_the_stake_comes_back(trader, demo, monkeypatch):
    before = ledger_balance(demo)
    contract = pending_order(trader, demo)
    assert ledger_balance(demo) == before - contract.stake
    Gateway(monkeypatch, answer=None)

    receivers.hand_orders_over(sender=Contract, contract_ids=[contract.pk], user_ids=[trader.pk], wait=True)

    contract.refresh_from_db()
    assert (contract.status, contract.deriv_note) == (Status.REFUSED, receivers.NO_ANSWER)
    assert ledger_balance(demo) == before


def test_a_waiting_purchase_the_manager_took_stays_pending_without_an_answer(trader, demo, monkeypatch):
    contract = pending_order(trader, demo)
    # The manager claimed the order (it is on its way to Deriv) but its answer came too late.
    Gateway(monkeypatch, answer=None, on_buy=deriv_contract_claim)

    receivers.hand_orders_over(sender=Contract, contract_ids=[contract.pk], user_ids=[trader.pk], wait=True)

    contract.refresh_from_db()
    assert contract.status == Status.PENDING and contract.deriv_sent_at is not None


def test_bulk_purchases_are_handed_over_without_waiting_and_only_unsent_orders(trader, demo, demo_account, monkeypatch):
    first, second = pending_order(trader, demo, "first"), pending_order(trader, demo, "second")
    deriv_contract_claim(contract_id=second.pk)  # already on its way
    manager = Gateway(monkeypatch)

    receivers.hand_orders_over(sender=Contract, contract_ids=[first.pk, second.pk], user_ids=[trader.pk], wait=False)

    assert (manager.bought, manager.handed) == ([], [[first.pk]])


def test_nothing_is_handed_over_when_no_order_is_for_deriv(trader, demo_account, monkeypatch):
    from tests.trading.support import buy as buy_otc
    from tests.trading.support import make_market

    contract = buy_otc(demo_account, make_market(), stake=Decimal("5.00"))
    manager = Gateway(monkeypatch)

    receivers.hand_orders_over(sender=Contract, contract_ids=[contract.pk], user_ids=[trader.pk], wait=True)

    assert (manager.bought, manager.handed) == ([], [])


def test_a_balance_or_connection_change_is_told_after_it_commits(trader, demo, django_capture_on_commit_callbacks):
    heard = []

    def listen(sender, user_ids, **kwargs):
        heard.append(user_ids)

    deriv_accounts_changed.connect(listen, dispatch_uid="tests.deriv_accounts_changed")
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            services.deriv_balance_apply(account=demo, balance=Decimal("123.45"), source="stream")
            services.deriv_account_connection(account_id=demo.pk, connected=False, reason=services.REASON_DOWN)
            services.deriv_balance_apply(
                account=demo, balance=Decimal("123.45"), source="stream"
            )  # no change, nothing to tell
        assert heard == []
        for callback in callbacks:
            callback()
    finally:
        deriv_accounts_changed.disconnect(dispatch_uid="tests.deriv_accounts_changed")

    assert heard == [[trader.pk], [trader.pk]]
