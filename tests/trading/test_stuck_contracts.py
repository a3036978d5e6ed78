"""Contracts never wait forever: a stopped or closed market still ends them by the rules."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.markets.models import Market
from apps.trading.models import Contract, Status
from apps.trading.services import contract_buy, contracts_settle


def _buy(account, market, key, duration, unit):
    return contract_buy(
        user=account.user,
        account=account,
        market=market,
        direction="RISE",
        stake=Decimal("10.00"),
        duration=duration,
        duration_unit=unit,
        idempotency_key=key,
    )


def test_a_minute_contract_on_a_stopped_market_settles_on_the_last_tick_before_expiry(demo_account, feed):
    market = feed.markets_by_symbol["OTC_GOLD"]
    contract = _buy(demo_account, market, "m", 1, "m")
    feed.tick(3)  # entry and a few ticks, then the feed stops
    Contract.objects.filter(pk=contract.pk).update(expires_at=timezone.now() - timedelta(minutes=2))
    Market.objects.filter(pk=market.pk).update(last_tick_at=timezone.now() - timedelta(minutes=3))
    contracts_settle()
    contract.refresh_from_db()
    assert contract.status != Status.OPEN
    assert contract.exit_spot is not None or contract.status == Status.VOID


def test_a_tick_contract_that_never_gets_its_exit_tick_is_refunded(demo_account, feed):
    market = feed.markets_by_symbol["OTC_GOLD"]
    contract = _buy(demo_account, market, "t", 10, "t")
    Market.objects.filter(pk=market.pk).update(is_active=False)
    contracts_settle()
    assert Contract.objects.get(pk=contract.pk).status == Status.OPEN  # still within the wait
    Contract.objects.filter(pk=contract.pk).update(purchased_at=timezone.now() - timedelta(minutes=11))
    contracts_settle()
    contract.refresh_from_db()
    assert contract.status == Status.VOID
    assert contract.amount_paid == Decimal("10.00")
    demo_account.ledger_account.refresh_from_db()
    assert demo_account.ledger_account.balance == Decimal("10000.00")
