"""Deriv's money invariants, run by ledger_check with the ledger's own (see receivers)."""

from datetime import timedelta

from .selectors import escrow_held_unlinked

# Unlinking with contracts open is allowed: they stay OPEN, their stake in escrow, until the
# account is linked again and its session follows them. Held this long, the money is stuck.
UNLINKED_ESCROW_REPORT = timedelta(minutes=10)


def unlinked_escrow_breaches() -> list[str]:
    return [
        f"escrow holds {sum(stake for _, stake in held)} for unlinked Deriv account {external_id} "
        f"(contracts {', '.join(str(pk) for pk, _ in held)})"
        for external_id, held in escrow_held_unlinked(held_for=UNLINKED_ESCROW_REPORT).items()
    ]
