import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.exchanges.models import Candle, Exchange, SpotMarket, Timeframe
from apps.exchanges.services.connections import paper_connection


@pytest.fixture
def btc(db):
    return SpotMarket.objects.create(
        exchange=Exchange.BINANCE,
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        amount_step=Decimal("0.00001"),
        price_step=Decimal("0.01"),
        min_amount=Decimal("0.00001"),
        min_notional=Decimal("5"),
        taker_fee=Decimal("0.001"),
        last_price=Decimal("50000"),
    )


@pytest.fixture
def paper(user):
    return paper_connection(user=user)


def candles_store(market, closes, *, timeframe=Timeframe.ONE_MINUTE, end=None):
    """Closed candles with these closes, the last one closed a moment ago (or at `end`)."""
    seconds = 60 if timeframe == Timeframe.ONE_MINUTE else 300
    end = end or timezone.now().replace(second=0, microsecond=0)
    first = end - timedelta(seconds=seconds * len(closes))
    rows = []
    for i, close in enumerate(closes):
        price = Decimal(str(round(close, 2)))
        rows.append(
            Candle(
                market=market,
                timeframe=timeframe,
                opened_at=first + timedelta(seconds=seconds * i),
                open=price,
                high=price,
                low=price,
                close=price,
                volume=Decimal("1"),
            )
        )
    Candle.objects.bulk_create(rows)
    market.last_price = rows[-1].close
    market.polled_at = timezone.now()
    market.save()
    return rows


def rising(n, start=50000.0, step=0.0004, wobble=0.0):
    """A steady climb (with an optional wobble) from `start`: the strategies vote RISE at its end."""
    return [start * (1 + step) ** i * (1 + wobble * math.sin(i)) for i in range(n)]


@pytest.fixture
def binance(db, settings):
    """The fake Binance, with Nexus's exchange settings pointed at it and its pairs loaded."""
    from apps.exchanges.services.feed import markets_load
    from tests.fakes.exchange.fixtures import running_fake_exchange

    with running_fake_exchange() as fake:
        settings.EXCHANGES = {"binance": {"URL": fake.url, "TIMEOUT_S": 2.0}}
        markets_load()
        yield fake


KEY, SECRET = "k" * 60 + "WXYZ", "s" * 64


@pytest.fixture
def live(user, binance):
    """A real connection to the fake Binance, its key able to read and trade, with 1,000 USDT there."""
    from apps.exchanges.services.connections import connection_connect

    binance.add_key(KEY, SECRET, balances={"USDT": "1000"})
    return connection_connect(user=user, exchange="binance", label="Main", api_key=KEY, secret=SECRET)


@pytest.fixture(autouse=True)
def worker_just_started():
    """Each test is a fresh worker: real connections are read back from their exchange before their first order."""
    from apps.exchanges.services import cycle

    cycle._resynced.clear()
