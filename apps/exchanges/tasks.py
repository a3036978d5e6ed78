"""Worker entry points for spot trading."""

import logging

from .models import SpotMarket
from .services.cycle import candles_poll_all
from .services.feed import markets_load
from .venues import VenueError

log = logging.getLogger(__name__)


def poll_candles() -> dict[str, int]:
    """Every minute: each feed in use polled once, then its bots act on the new candle. Until the exchange's pairs
    are loaded (it could not be reached at the daily load), they are asked for first."""
    if not SpotMarket.objects.exists():
        load_markets()
    return candles_poll_all()


def load_markets() -> int:
    """Daily: the pairs' precision, minimums and fees from the exchange. An exchange out of reach is logged, and
    the pairs are asked for again at the next poll while none is stored."""
    try:
        return len(markets_load())
    except VenueError as exc:
        log.warning("the exchange's pairs could not be loaded: %s", exc.reason)
        return 0
