"""Settled contracts built by hand, with the ledger transfers settlement would have written, at a chosen time."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from apps.ledger.models import AccountKind, Entry, TransferKind
from apps.ledger.services import TransferSpec, system_account, transfer_many
from apps.trading.models import Contract, Direction, DurationUnit, Status


def backdate(transfers, when: datetime) -> None:
    """Move transfers and their entries to `when` (the ledger is append-only: a test's raw write)."""
    ids = [t.pk for t in transfers]
    marks = ",".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE ledger_transfer SET created_at = %s WHERE id IN ({marks})", [when, *ids])
        cursor.execute(
            f"UPDATE {Entry._meta.db_table} SET created_at = %s WHERE transfer_id IN ({marks})", [when, *ids]
        )


def settled(
    account,
    market,
    *,
    status: str,
    stake: str = "10.00",
    at: datetime,
    fees: str = "0.00",
    key: str | None = None,
) -> Contract:
    """A contract bought a minute before `at` and settled at `at` (won: payout less `fees`; lost; tie), or OPEN."""
    stake = Decimal(stake)
    fees = Decimal(fees)
    payout = (stake * (1 + market.payout_percent / 100)).quantize(Decimal("0.01"))
    paid = {Status.WON: payout - fees, Status.LOST: Decimal("0.00"), Status.OPEN: None}.get(status, stake)
    contract = Contract.objects.create(
        user=account.user,
        account=account,
        market=market,
        direction=Direction.RISE,
        stake=stake,
        payout_percent=market.payout_percent,
        payout=payout,
        tie_rule=market.tie_rule,
        duration=1,
        duration_unit=DurationUnit.TICKS,
        idempotency_key=key or f"k-{Contract.objects.count()}-{at.timestamp()}",
        purchased_at=at - timedelta(minutes=1),
        purchase_seq=1,
        status=status,
        settled_at=None if status == Status.OPEN else at,
        amount_paid=paid,
        commission=fees if status == Status.WON else Decimal("0.00"),
    )
    realm, currency = account.ledger_account.realm, account.currency
    escrow = system_account(kind=AccountKind.ESCROW, realm=realm, currency=currency).pk
    house = system_account(kind=AccountKind.HOUSE, realm=realm, currency=currency).pk
    user = account.ledger_account_id
    ref = f"contract:{contract.pk}"
    specs = [TransferSpec(user, escrow, stake, TransferKind.STAKE, f"{ref}:stake", ref)]
    if status == Status.OPEN:
        pass
    elif status == Status.LOST:
        specs.append(TransferSpec(escrow, house, stake, TransferKind.LOSS, f"{ref}:loss", ref))
    elif status == Status.WON:
        specs.append(TransferSpec(escrow, user, stake, TransferKind.PAYOUT, f"{ref}:return", ref))
        specs.append(TransferSpec(house, user, payout - stake, TransferKind.PAYOUT, f"{ref}:win", ref))
        if fees:
            revenue = system_account(kind=AccountKind.REVENUE, realm=realm, currency=currency).pk
            specs.append(TransferSpec(user, revenue, fees, TransferKind.COMMISSION, f"{ref}:commission", ref))
    else:
        specs.append(TransferSpec(escrow, user, stake, TransferKind.REFUND, f"{ref}:refund", ref))
    backdate(transfer_many(specs), at)
    return contract
