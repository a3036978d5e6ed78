"""Facts the ledger owns."""

from django.dispatch import Signal

# Sent synchronously by `ledger_breaches()` (the `ledger_check` command and
# the test suite): each receiver returns a list of breaches of the money
# invariants its own app keeps (contracts, commissions...), so the ledger
# imports no other app.
ledger_checked = Signal()
