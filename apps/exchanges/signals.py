"""Facts the exchanges app owns."""

from django.dispatch import Signal

# After commit, with `user_ids`: these traders' spot trading changed (an order
# filled or was refused, a position opened or closed, a bot started, stopped
# or acted on a candle, or new prices moved their open positions' value).
spot_changed = Signal()
