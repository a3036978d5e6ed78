"""Facts the Deriv app owns."""

from django.dispatch import Signal

# After an unlink commits, with `user_id`: the trader unlinked Deriv.
deriv_unlinked = Signal()

# After commit, with `user_ids`: these users' Deriv accounts changed
# (balance synced, connection lost or back, accounts added or gone).
deriv_accounts_changed = Signal()
