"""A fake Binance spot REST API for tests and local use, spoken to by an unmodified `ccxt.binance`.

    from tests.fakes.exchange import FakeExchange, ccxt_config
    fake = FakeExchange(seed=1).start()             # or the `fake_exchange` fixture (tests.fakes.exchange.fixtures)
    fake.add_key("key", "secret", balances={"USDT": "10000"}, can_trade=True)
    exchange = ccxt.binance(ccxt_config(fake.url, "key", "secret"))
    fake.advance(60)                                # the market clock: candles, prices, fills
    fake.set_candles("BTCUSDT", "1m", rows)         # recorded [open_ms, o, h, l, c, v] rows
    fake.partial_fill_next(0.5); fake.reject_next(-2010, "…"); fake.drop_next_order_answer()
    fake.rate_limit_next(); fake.delay(2); fake.unreachable(True)
    fake.call_count("/api/v3/klines"); fake.orders_for("key")
    fake.stop()

Standalone: `python -m tests.fakes.exchange --port 8765` (prints a demo key and secret).
"""

from .api import sign
from .server import FakeExchange, ccxt_config

__all__ = ["FakeExchange", "ccxt_config", "sign"]
