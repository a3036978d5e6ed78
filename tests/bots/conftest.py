from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.bots.engine.config import REGIME_WINDOW, DecisionConfig
from apps.bots.services import bot_create
from apps.markets.models import Market, Tick

# Three trend followers that all vote RISE on a steady climb (dual RSI would call it overbought).
TREND = DecisionConfig({"scalping": {}, "momentum": {}, "breakout": {}}, 2, Decimal("0.50"))


def write_ticks(market: Market, prices, *, interval=timedelta(seconds=1)) -> list[Tick]:
    """Append `prices` as the market's next ticks, the last one just now."""
    market.refresh_from_db()
    now = timezone.now()
    count = len(prices)
    ticks = [
        Tick(market=market, seq=market.last_seq + i + 1, time=now - (count - 1 - i) * interval, price=Decimal(str(p)))
        for i, p in enumerate(prices)
    ]
    Tick.objects.bulk_create(ticks)
    Market.objects.filter(pk=market.pk).update(
        last_seq=ticks[-1].seq, last_price=ticks[-1].price, last_tick_at=ticks[-1].time
    )
    market.refresh_from_db()
    return ticks


def climb(n: int | None = None, start: float = 100.0, step: float = 0.05) -> list[float]:
    """A steady climb with a small wobble, long enough for every strategy and the regime by default."""
    n = n or max(TREND.window, REGIME_WINDOW) + 10
    return [round(start + i * step + (0.02 if i % 3 == 0 else 0), 4) for i in range(n)]


@pytest.fixture
def market(markets):
    return markets["VOL_10"]


@pytest.fixture
def make_bot(user, demo_account, market):
    def make(decision: DecisionConfig = TREND, owner=None, account=None, **settings):
        defaults = {
            "name": "Trend bot",
            "account": account or demo_account,
            "market": market,
            "blocked_regimes": [],
            "duration": 5,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        }
        return bot_create(user=owner or user, decision=decision, settings=defaults | settings)

    return make


@pytest.fixture
def trader(client, user, demo_account):
    """The test client, signed in as the trader who owns `demo_account`."""
    client.force_login(user)
    return client
