from decimal import Decimal

import pytest

from apps.exchanges.models import Candle, SpotBot, SpotBotStatus, SpotMarket
from apps.exchanges.services.connections import paper_connection
from apps.exchanges.services.cycle import candles_poll_all
from apps.exchanges.services.feed import HISTORY, candles_poll, markets_load, stale_reason


@pytest.fixture
def binance_now(db, settings):
    """The fake Binance with its market clock on the wall clock, as the real one runs."""
    from tests.fakes.exchange.fixtures import running_fake_exchange

    with running_fake_exchange(clock_start=None, frozen=False) as fake:
        settings.EXCHANGES = {"binance": {"URL": fake.url, "TIMEOUT_S": 2.0}}
        markets_load()
        yield fake


def test_a_first_poll_stores_the_history_the_gatekeeper_needs_and_only_closed_candles(binance_now):
    btc = SpotMarket.objects.get(symbol="BTC/USDT")

    stored = candles_poll(market=btc, timeframe="1m")

    assert stored == HISTORY - 1  # the last row is the candle still forming
    btc.refresh_from_db()
    assert btc.last_price == Candle.objects.filter(market=btc).latest("opened_at").close
    assert stale_reason(market=btc, timeframe="1m") == ""
    assert candles_poll(market=btc, timeframe="1m") == 0  # nothing new within the same minute


def test_one_poll_per_pair_and_timeframe_whatever_the_number_of_bots(binance_now, user):
    paper = paper_connection(user=user)
    markets = list(SpotMarket.objects.order_by("symbol")[:2])
    for i in range(30):
        SpotBot.objects.create(user=user, connection=paper, market=markets[i % 2], name=f"b{i}",
                               status=SpotBotStatus.RUNNING)  # fmt: skip

    result = candles_poll_all()

    assert result["feeds"] == 2
    assert binance_now.call_count("/api/v3/klines") == 2
    assert result["bots"] == 30


def test_a_failing_poll_makes_the_pair_stale_visibly_until_the_next_good_one(binance_now):
    btc = SpotMarket.objects.get(symbol="BTC/USDT")
    binance_now.unreachable(True)

    assert candles_poll(market=btc, timeframe="1m") == 0

    btc.refresh_from_db()
    assert "did not answer" in stale_reason(market=btc, timeframe="1m")
    binance_now.unreachable(False)
    candles_poll(market=btc, timeframe="1m")
    btc.refresh_from_db()
    assert stale_reason(market=btc, timeframe="1m") == ""
    assert btc.last_price > Decimal("0")
