from prometheus_client import REGISTRY

from apps.ops.receivers import count_settlements
from apps.trading.models import Contract, Status
from tests.trading.support import buy


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_committed_tick_is_counted_per_market(feed):
    before = sample("nexus_ticks_committed_total", market="VOL_10")
    others = sample("nexus_ticks_committed_total", market="OTC_EUR_USD")
    feed.tick(3)
    assert sample("nexus_ticks_committed_total", market="VOL_10") == before + 3
    assert sample("nexus_ticks_committed_total", market="OTC_EUR_USD") == others + 3


def test_settled_contracts_are_counted_by_outcome_with_their_lag(demo_account, feed, markets):
    market = markets["OTC_EUR_USD"]
    for _ in range(3):
        buy(demo_account, market, duration=1)
    settled = {status: sample("nexus_contracts_settled_total", status=status) for status in Status.values}
    lags = sample("nexus_settlement_lag_seconds_count")
    feed.tick(3)
    outcomes = Contract.objects.values_list("status", flat=True)
    assert Status.OPEN not in outcomes
    for status in Status.values:
        expected = settled[status] + sum(1 for outcome in outcomes if outcome == status)
        assert sample("nexus_contracts_settled_total", status=status) == expected
    # Every one of them had an exit tick: each lag observed once.
    assert sample("nexus_settlement_lag_seconds_count") == lags + 3


def test_a_settlement_rolled_back_is_not_counted(django_capture_on_commit_callbacks, db):
    before = sample("nexus_contracts_settled_total", status="WON")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        count_settlements(sender=Contract, results=[(1, "WON", 1, 2)])
    # Deferred to the commit: a rollback discards it with the settlement.
    assert len(callbacks) == 1
    assert sample("nexus_contracts_settled_total", status="WON") == before
