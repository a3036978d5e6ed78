"""Contract money invariants, run by ledger_check with the ledger's own."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.ledger.models import AccountKind, LedgerAccount, Transfer, TransferKind

from .models import HELD, Contract, Status
from .selectors import venue_contracts_overdue

_FEES = (TransferKind.COMMISSION, TransferKind.MARKUP)

# A Deriv contract still open this long after its expected end is stuck (the session's watchdog
# asks Deriv 15 s after the end): its stake sits in escrow until someone looks.
VENUE_OVERDUE_REPORT = timedelta(minutes=10)


def contract_breaches() -> list[str]:
    breaches: list[str] = []
    stakes: dict[int, Decimal] = {}
    paid: dict[int, Decimal] = defaultdict(Decimal)
    settlements: dict[int, int] = defaultdict(int)
    fees: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    rows = Transfer.objects.filter(reference__startswith="contract:").values_list(
        "reference", "kind", "amount", "credit__kind"
    )
    for reference, kind, amount, credit_kind in rows.iterator(chunk_size=5000):
        pk = int(reference.split(":", 1)[1])
        if kind == TransferKind.STAKE:
            if pk in stakes:
                breaches.append(f"contract {pk} has more than one stake transfer")
            stakes[pk] = amount
        elif kind in _FEES:
            # Out of the trader's winnings: what reached them is the payout less these.
            fees[(pk, kind)] += amount
            paid[pk] -= amount
        else:
            settlements[pk] += 1
            if credit_kind == AccountKind.USER:
                paid[pk] += amount

    open_stakes: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    contracts = Contract.objects.values_list(
        "pk",
        "status",
        "stake",
        "payout",
        "amount_paid",
        "commission",
        "markup",
        "at_deriv",
        "account__ledger_account__realm",
        "account__currency",
    )
    for pk, status, stake, payout, amount_paid, commission, markup, at_deriv, realm, currency in contracts.iterator(
        chunk_size=5000
    ):
        charged = (fees.get((pk, TransferKind.COMMISSION), 0), fees.get((pk, TransferKind.MARKUP), 0))
        if status not in HELD and charged != (commission, markup):
            breaches.append(
                f"contract {pk}: commission and markup {commission}, {markup} recorded, "
                f"{charged[0]}, {charged[1]} charged through the ledger"
            )
        if status == Status.WON and not at_deriv and amount_paid + commission + markup != payout:
            breaches.append(
                f"contract {pk}: net {amount_paid} + commission {commission} + markup {markup} != payout {payout}"
            )
        if stakes.get(pk) != stake:
            breaches.append(f"contract {pk}: stake {stake} but stake transfer {stakes.get(pk)}")
        if status in HELD:  # open, or PENDING at Deriv: the stake sits in escrow
            open_stakes[(realm, currency)] += stake
            if settlements.get(pk):
                breaches.append(f"contract {pk} is {status.lower()} but has settlement transfers")
        elif paid.get(pk, Decimal("0.00")) != amount_paid:
            breaches.append(f"contract {pk}: paid {paid.get(pk, 0)} through the ledger, {amount_paid} recorded")

    # Each Deriv contract is recorded once (also a unique constraint).
    seen = Contract.objects.filter(deriv_contract_id__isnull=False).values_list("deriv_contract_id", flat=True)
    ids = list(seen)
    if len(ids) != len(set(ids)):
        breaches.append("a Deriv contract is recorded more than once")

    # Escrow holds exactly the stakes of open contracts.
    escrows = LedgerAccount.objects.filter(kind=AccountKind.ESCROW).values_list("realm", "currency", "balance")
    for realm, currency, balance in escrows:
        expected = open_stakes.pop((realm, currency), Decimal("0.00"))
        if balance != expected:
            breaches.append(f"escrow {realm} {currency} holds {balance}, open stakes total {expected}")
    for (realm, currency), total in open_stakes.items():
        breaches.append(f"open stakes {realm} {currency} total {total} but there is no escrow account")
    breaches.extend(venue_overdue_breaches())
    return breaches


def venue_overdue_breaches() -> list[str]:
    """Deriv contracts open long past their expected end (VENUE_OVERDUE_REPORT)."""
    now = timezone.now()
    return [
        f"Deriv contract {row.contract_id} (Deriv {row.venue_contract_id}) is still open "
        f"{int((now - row.expected_end).total_seconds() // 60)} min past its expected end"
        for row in venue_contracts_overdue(past_end=VENUE_OVERDUE_REPORT, now=now)
    ]
