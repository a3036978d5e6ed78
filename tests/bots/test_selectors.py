"""Reads only read: the monitor's configuration comes from a migration, and selectors never create it."""

from decimal import Decimal

from apps.bots.engine.config import DecisionConfig
from apps.bots.models import Decision, StrategyConfig
from apps.bots.selectors import market_signals, signals_overview
from apps.bots.services import markets_decide
from apps.bots.shared import monitor_decision

from .conftest import climb, write_ticks


def test_the_monitors_configuration_is_stored_by_the_migrations(db):
    # A change to DecisionConfig's defaults needs a data migration that stores the new configuration.
    default = DecisionConfig()
    stored = StrategyConfig.objects.get(key=default.key)
    assert stored.strategies == {s.name: s.params() for s in default.built}
    assert (stored.min_agreeing, stored.min_confidence) == (default.min_agreeing, Decimal("0.70"))
    assert stored.decision_config.key == default.key


def test_market_signals_only_selects(market, django_assert_num_queries):
    write_ticks(market, climb())
    markets_decide(market_ids=[market.pk])
    with django_assert_num_queries(2) as captured:
        signal = market_signals(market=market)
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in captured.captured_queries)
    assert signal.decision.config.key == monitor_decision().key
    assert signal.regime is not None


def test_signals_without_the_monitors_configuration_show_nothing_and_create_nothing(markets, market):
    StrategyConfig.objects.filter(key=monitor_decision().key).delete()
    signals = signals_overview()
    assert signals and all(signal.decision is None for signal in signals)
    assert not StrategyConfig.objects.exists()


def test_the_decision_cycle_stores_the_monitors_configuration_when_it_is_missing(market):
    StrategyConfig.objects.filter(key=monitor_decision().key).delete()
    write_ticks(market, climb())
    markets_decide(market_ids=[market.pk])
    decision = Decision.objects.get(market=market)
    assert decision.config.key == monitor_decision().key
    assert market_signals(market=market).decision == decision
