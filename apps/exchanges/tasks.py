"""Worker entry points for spot trading."""

from .services.cycle import candles_poll_all
from .services.feed import markets_load


def poll_candles() -> dict[str, int]:
    """Every minute: each feed in use polled once, then its bots act on the new candle."""
    return candles_poll_all()


def load_markets() -> int:
    """Daily: the pairs' precision, minimums and fees from the exchange."""
    return len(markets_load())
