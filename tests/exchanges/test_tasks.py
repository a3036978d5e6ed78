import logging

from apps.exchanges import tasks
from apps.exchanges.models import SpotMarket


def test_an_exchange_out_of_reach_at_the_daily_load_is_asked_again_at_the_next_poll(binance, caplog):
    SpotMarket.objects.all().delete()
    binance.unreachable(True)

    with caplog.at_level(logging.WARNING):
        assert tasks.load_markets() == 0
        tasks.poll_candles()

    assert "could not be loaded" in caplog.text and not SpotMarket.objects.exists()
    binance.unreachable(False)
    tasks.poll_candles()
    assert SpotMarket.objects.count() == 10
