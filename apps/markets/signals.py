"""Facts the markets app owns."""

from django.dispatch import Signal

# After commit, by every feed (OTC and Deriv), once per committed batch of
# ticks, with `market_ids`: the markets that have new ticks.
ticks_committed = Signal()

# Sent by `runfeed` on request, with no arguments: an app that streams market
# data from an outside source (Deriv) answers with an
# `apps.markets.feed.OutsideFeed` (its `--source` name, how to run it, or why
# it is off), so the feed command imports no such app.
feeds_requested = Signal()
