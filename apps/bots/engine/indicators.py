"""Warm-up lengths and memory bounds for talipp indicators fed one price at a time.

Strategies and the regime keep their talipp indicators in streams (`add` one
price, then read). The live worker builds a fresh stream per decision and feeds
it a window of recent prices; the backtest feeds one stream the whole series.
Both read the same indicator values only if the window is long enough for the
recursive ones to forget where they started:

- An EMA starts at the mean of its first `period` prices; each later price
  shrinks that start's weight by 1 - 2/(period + 1), about e^-2 per period.
- Wilder's RSI averages start from the first `period` changes; each later
  change shrinks their weight by 1 - 1/period, about e^-1 per period.

In float arithmetic two such filters that started apart become bit-for-bit
equal once the difference falls under the last bit and rounds away, after
which they stay equal. On generated series that took at most about 20
periods for an EMA and 42 for an RSI; the windows below leave the start a
weight near 2^-92 (EMA) and 2^-95 (RSI), far under a float's 2^-53, and
tests/bots/test_backtest.py checks, tick by tick, that a long-running stream
and a fresh window decide alike. Sliding-window indicators (standard
deviation, Donchian channel) read only their last `period` values and are
exact at any length.
"""

from talipp.indicators.Indicator import Indicator

EMA_WARMUP_PERIODS = 32
RSI_WARMUP_PERIODS = 64

# A long-running stream drops old indicator values this often, so a backtest
# over millions of ticks holds a bounded amount of memory.
TRIM_EVERY = 4096


def trim(indicator: Indicator, keep: int) -> None:
    """Drop all but the latest `keep` inputs and outputs (talipp indicators otherwise keep every one).

    `keep` must exceed the indicator's period by at least 2: talipp starts an
    EMA or RSI over again when it holds exactly `period` (+1) inputs.
    """
    excess = len(indicator.input_values) - keep
    if excess > 0:
        indicator.purge_oldest(excess)
