"""Facts the trading app owns, and the one question it asks other apps."""

from django.dispatch import Signal

# After commit, with `contract_ids` and `user_ids`: contracts were bought
# (OPEN on our own markets, PENDING while an outside venue such as Deriv has
# not answered yet), `pending_ids`: those of them that are PENDING (none on
# our own markets: a venue's receiver need not look them up), and `wait`: True when a trader's request waits for the
# venue's answer (a receiver that hands orders to a venue answers before it
# returns), False for bulk purchases (hand them over, do not wait).
contracts_bought = Signal()

# After commit, with `contract_ids` and `user_ids`: an outside venue took
# PENDING contracts (now OPEN) or reported their entry spot.
contracts_opened = Signal()

# Inside the settlement's transaction, once per settled batch, with
# `results`: [(contract id, status, stake, amount paid)] and `user_ids`, so a
# receiver's writes commit or roll back with the settlement itself (sent with
# `send`, not `send_robust`: a receiver that fails rolls the batch back, and
# the retry settles it once). Refused venue orders are reported here too.
# Sent before the batch's ledger writes: a receiver locking rows of its own
# (bots) takes them before any ledger account, the lock order documented in
# apps/ledger/services.py.
contracts_settled = Signal()

# Sent synchronously while orders are validated, with `account_ids`: an app
# that connects trading accounts to an outside venue returns
# {account id: reason} for those of its accounts that cannot trade right now.
account_refusals_requested = Signal()
