"""Helpers for trading tests: markets with hand-written ticks, so every price is exact."""

import itertools
from decimal import Decimal

from django.utils import timezone

from apps.ledger.models import LedgerAccount
from apps.markets.models import Market, Tick, TieRule
from apps.trading.services import contract_buy

_keys = itertools.count(1)


def make_market(symbol="TEST_MKT", *, tie_rule=TieRule.REFUND, payout_percent="80.00", price="100.00", **fields):
    """An OTC market with one fresh tick (seq 1), ready to trade."""
    market = Market.objects.create(
        symbol=symbol,
        name=symbol.replace("_", " ").title(),
        base_price=Decimal(price),
        decimals=2,
        tie_rule=tie_rule,
        payout_percent=Decimal(payout_percent),
        **fields,
    )
    write_tick(market, price)
    market.refresh_from_db()
    return market


def write_tick(market, price, at=None) -> Tick:
    """Append the market's next tick at `at` (default now), as the feed would, without settling anything."""
    seq = Market.objects.values_list("last_seq", flat=True).get(pk=market.pk) + 1
    at = at or timezone.now()
    tick = Tick.objects.create(market_id=market.pk, seq=seq, time=at, price=Decimal(price))
    Market.objects.filter(pk=market.pk).update(last_seq=seq, last_price=tick.price, last_tick_at=at)
    return tick


def write_ticks(market, *prices) -> list[Tick]:
    return [write_tick(market, price) for price in prices]


def buy(account, market, direction="RISE", stake="10.00", duration=1, unit="t", key=None, user=None):
    return contract_buy(
        user=user or account.user,
        account=account,
        market=market,
        direction=direction,
        stake=Decimal(stake) if isinstance(stake, str) else stake,
        duration=duration,
        duration_unit=unit,
        idempotency_key=key or f"key-{next(_keys)}",
    )


def balance(account) -> Decimal:
    return LedgerAccount.objects.values_list("balance", flat=True).get(pk=account.ledger_account_id)


def order_form(**fields) -> dict:
    """The trade form as a trader posts it: a 10.00 Rise on EUR/USD OTC for 5 ticks, `fields` changed."""
    return {
        "market": "OTC_EUR_USD",
        "direction": "RISE",
        "stake": "10.00",
        "duration": "5",
        "duration_unit": "t",
        "idempotency_key": "k-1",
    } | fields
