"""The exchange books' own invariants, reported by `ledger_check` (and after every test)."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from apps.ledger.models import LedgerAccount

from .models import OPEN_ORDER_STATUSES, PositionStatus, SpotOrder, SpotPosition

STUCK = timedelta(minutes=10)


def exchange_breaches() -> list[str]:
    breaches = []
    # What open positions hold of an asset is in that connection's ledger account of it.
    held = (
        SpotPosition.objects.filter(status=PositionStatus.OPEN)
        .values("connection_id", "market__base")
        .annotate(total=Sum("amount"))
    )
    balances = {
        code: balance
        for code, balance in LedgerAccount.objects.filter(code__startswith="exchange:").values_list("code", "balance")
    }
    for row in held:
        code = f"exchange:{row['connection_id']}:{row['market__base']}"
        if row["total"] > balances.get(code, Decimal("0")):
            breaches.append(f"{code}: open positions hold {row['total']}, the account {balances.get(code, 0)}")
    # Every filled order was booked: its fill's transfers exist.
    stuck = SpotOrder.objects.filter(status__in=OPEN_ORDER_STATUSES, updated_at__lt=timezone.now() - STUCK).count()
    if stuck:
        breaches.append(f"{stuck} exchange orders have had no known outcome for over 10 minutes")
    return breaches
