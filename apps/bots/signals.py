"""Facts the bots app owns."""

from django.dispatch import Signal

# After commit, with `user_ids`: these users' bots changed (started, stopped,
# edited, traded, results applied) or their kill switch did.
bots_changed = Signal()

# After commit, with `market_ids`: a decision cycle stored new votes,
# consensus and regime for these markets.
signals_decided = Signal()
