"""pytest fixtures around FakeExchange: `from tests.fakes.exchange.fixtures import fake_exchange_fixture` in a
conftest.py (or test module) provides the `fake_exchange` fixture."""

from contextlib import contextmanager

import pytest

from .server import FakeExchange


@contextmanager
def running_fake_exchange(**options):
    fake = FakeExchange(**options).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(name="fake_exchange")
def fake_exchange_fixture():
    """A fake Binance spot API, seed 1, with its market clock frozen (move it with `fake_exchange.advance(seconds)`).

    It has no API keys: a test adds its own with `fake_exchange.add_key(...)`, and points ccxt at it with
    `ccxt.binance(fake_exchange.ccxt_config(key, secret))`.
    """
    with running_fake_exchange() as fake:
        yield fake
