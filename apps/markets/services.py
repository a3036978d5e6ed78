"""Writes on markets' data other than the feed's own (the feed writes ticks and candles)."""

from datetime import datetime

from .models import Candle, Timeframe

# Candles shorter than an hour are many (a 1-minute candle per market per
# minute) and only the recent ones are charted; hourly candles are kept.
SMALL_TIMEFRAMES = tuple(tf for tf in Timeframe.values if tf < Timeframe.H1)


def candles_purge(*, before: datetime, timeframes=SMALL_TIMEFRAMES) -> int:
    """Delete candles of `timeframes` that started before `before` (retention); returns how many went."""
    deleted, _ = Candle.objects.filter(timeframe__in=timeframes, start__lt=before).delete()
    return deleted
