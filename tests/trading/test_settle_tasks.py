"""Worker entry points and the feed hook that enqueue and run settlement."""

from decimal import Decimal

import pytest

from apps.trading import receivers
from apps.trading.models import Contract, Status
from apps.trading.tasks import settle_markets, settle_overdue

from .support import balance, buy, make_market, write_ticks


@pytest.fixture
def two_markets(db):
    return make_market("MKT_A"), make_market("MKT_B")


def statuses():
    return list(Contract.objects.order_by("pk").values_list("status", flat=True))


def test_settle_overdue_sweeps_everything_due_on_every_market(demo_account, two_markets):
    a, b = two_markets
    for market in (a, b):
        buy(demo_account, market, direction="RISE", stake="10.00", duration=1)
        buy(demo_account, market, direction="FALL", stake="10.00", duration=1)
        write_ticks(market, "100.00", "101.00")

    assert settle_overdue() == 4
    assert statuses() == [Status.WON, Status.LOST, Status.WON, Status.LOST]
    assert balance(demo_account) == Decimal("10000.00") - 40 + 18 + 18


def test_settle_overdue_leaves_contracts_that_are_not_due(demo_account, two_markets):
    a, _ = two_markets
    buy(demo_account, a, duration=1)
    buy(demo_account, a, duration=3)
    write_ticks(a, "100.00", "101.00")

    assert settle_overdue() == 1
    assert statuses() == [Status.WON, Status.OPEN]


def test_settle_overdue_with_nothing_due_does_nothing(demo_account, two_markets):
    buy(demo_account, two_markets[0], duration=5)

    assert settle_overdue() == 0
    assert statuses() == [Status.OPEN]


def test_settle_overdue_twice_settles_once(demo_account, two_markets):
    a, _ = two_markets
    buy(demo_account, a, duration=1)
    write_ticks(a, "100.00", "101.00")

    assert (settle_overdue(), settle_overdue()) == (1, 0)


def test_settle_markets_settles_only_the_markets_given(demo_account, two_markets):
    a, b = two_markets
    buy(demo_account, a, duration=1)
    buy(demo_account, b, duration=1)
    write_ticks(a, "100.00", "101.00")
    write_ticks(b, "100.00", "101.00")

    assert settle_markets([b.pk]) == 1
    assert statuses() == [Status.OPEN, Status.WON]


def test_the_hook_enqueues_settlement_only_for_markets_with_due_contracts(demo_account, two_markets, monkeypatch):
    a, b = two_markets
    enqueued = []
    monkeypatch.setattr(receivers, "async_task", lambda *args, **kwargs: enqueued.append((args, kwargs)))
    buy(demo_account, a, duration=1)
    buy(demo_account, b, duration=5)
    write_ticks(a, "100.00", "101.00")
    write_ticks(b, "100.00", "101.00")

    receivers.enqueue_settlement(sender=None, market_ids=[a.pk, b.pk])

    assert enqueued == [(("apps.trading.tasks.settle_markets", [a.pk]), {"group": "settlement"})]


def test_the_hook_enqueues_nothing_when_nothing_is_due(demo_account, two_markets, monkeypatch):
    enqueued = []
    monkeypatch.setattr(receivers, "async_task", lambda *args, **kwargs: enqueued.append(args))
    buy(demo_account, two_markets[0], duration=3)

    receivers.enqueue_settlement(sender=None, market_ids=[m.pk for m in two_markets])

    assert enqueued == []


def test_the_feed_settles_each_contract_as_its_exit_tick_arrives(demo_account, feed, markets):
    one = buy(demo_account, markets["VOL_25"], duration=1)
    three = buy(demo_account, markets["VOL_25"], duration=3)

    feed.tick(2)
    one.refresh_from_db()
    three.refresh_from_db()
    assert one.status != Status.OPEN and three.status == Status.OPEN

    feed.tick(1)
    three.refresh_from_db()
    assert three.status == Status.OPEN

    feed.tick(1)
    three.refresh_from_db()
    assert three.status != Status.OPEN
