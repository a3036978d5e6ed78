"""Facts the markets app owns."""

from django.dispatch import Signal

# After commit, by every feed (OTC and Deriv), once per committed batch of
# ticks, with `market_ids`: the markets that have new ticks.
ticks_committed = Signal()
