from django.dispatch import Signal

# Sent inside the settlement's transaction, once per settled batch, with
# `results`: [(contract id, status, stake, amount paid)] — so a receiver's
# writes commit or roll back with the settlement itself.
contracts_settled = Signal()
