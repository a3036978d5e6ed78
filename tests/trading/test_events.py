"""What trading tells other apps: contracts bought after commit, settled results with their traders."""

from decimal import Decimal

import pytest

from apps.accounts.services import account_open_demo
from apps.trading.models import Contract, Status
from apps.trading.services import Buyer, Order, contracts_buy_many
from apps.trading.signals import contracts_bought, contracts_settled

from .support import buy, make_market, write_ticks


class Heard:
    """A receiver that keeps what it was sent."""

    def __init__(self, signal):
        self.signal, self.sent = signal, []

    def __call__(self, sender, **kwargs):
        self.sent.append(kwargs)

    def __enter__(self):
        self.signal.connect(self, weak=False, dispatch_uid=f"tests.heard.{id(self)}")
        return self

    def __exit__(self, *exc):
        self.signal.disconnect(dispatch_uid=f"tests.heard.{id(self)}")


@pytest.fixture
def market(db):
    return make_market()


def test_a_purchase_is_told_once_it_commits(demo_account, market, django_capture_on_commit_callbacks):
    with Heard(contracts_bought) as heard:
        with django_capture_on_commit_callbacks() as callbacks:
            contract = buy(demo_account, market)
        assert heard.sent == []  # not before the commit
        for callback in callbacks:
            callback()

    assert heard.sent == [
        {
            "signal": contracts_bought,
            "contract_ids": [contract.pk],
            "pending_ids": [],
            "user_ids": [demo_account.user_id],
            "wait": False,
        }
    ]


def test_a_repeated_purchase_is_not_told_again(demo_account, market, django_capture_on_commit_callbacks):
    buy(demo_account, market, key="same")
    with Heard(contracts_bought) as heard, django_capture_on_commit_callbacks(execute=True):
        buy(demo_account, market, key="same")
    assert heard.sent == []


def test_a_bulk_purchase_is_told_without_waiting(demo_account, other_user, market, django_capture_on_commit_callbacks):
    other = account_open_demo(user=other_user)
    orders = [
        Order(Buyer.of(account), "RISE", Decimal("1.00"), 1, "t", f"bulk-{account.pk}")
        for account in (other, demo_account)
    ]
    orders.append(Order(Buyer.of(demo_account), "RISE", Decimal("0.001"), 1, "t", "refused"))
    with Heard(contracts_bought) as heard, django_capture_on_commit_callbacks(execute=True):
        first, second, refused = contracts_buy_many(market=market, orders=orders)

    assert isinstance(refused, Exception)
    (sent,) = heard.sent
    assert sent["contract_ids"] == [first, second] and sent["wait"] is False
    assert sent["user_ids"] == sorted({demo_account.user_id, other_user.pk})


def test_settled_results_name_their_traders(demo_account, other_user, market):
    other = account_open_demo(user=other_user)
    mine, theirs = buy(demo_account, market), buy(other, market, direction="FALL")
    write_ticks(market, "100.00", "101.00")

    from apps.trading.services import contracts_settle

    with Heard(contracts_settled) as heard:
        settled = contracts_settle(market_ids=[market.pk])

    assert sorted(settled) == sorted([mine.pk, theirs.pk])
    (sent,) = heard.sent
    assert sent["user_ids"] == sorted({demo_account.user_id, other_user.pk})
    assert {(pk, status) for pk, status, _stake, _paid in sent["results"]} == {
        (mine.pk, Status.WON),
        (theirs.pk, Status.LOST),
    }
    assert Contract.objects.filter(pk__in=settled, status=Status.OPEN).count() == 0
