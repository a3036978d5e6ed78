"""Contracts bought and settled at an outside venue (Deriv), mirrored in the ledger.

Trading does not know the venue's client: the venue app (apps.deriv) calls
these with what the venue answered, objects read by attribute only (see
`VenuePurchase` and `VenueResult` for the attributes used).

A Deriv contract goes through these states, each change a conditional update
on `status`, so it happens once whoever tries it twice (the connection
manager after a reconnect, a web request that gave up waiting):

    PENDING ──buy answered──────────────> OPEN ──Deriv's result──> WON / LOST / VOID
       │  (Deriv's contract id, price, payout)     (POC: status, sell price, spots)
       └──Deriv refused / never sent────> REFUSED (the mirrored stake comes back)

Deriv's result is final once it says `is_sold`, whatever its `status`
(won, lost, sold, cancelled or null). What it paid: `sell_price`; a win
without one pays Deriv's `payout` (never a win with nothing paid); else
buy price + `profit`. A cancelled contract, or one sold for its stake,
is VOID: the stake comes back as a refund. A sold-back contract is judged by
what came back.

Money (realm DERIV_DEMO or REAL, the account's currency):

* purchase (`contract_buy`): STAKE, the trader's account → escrow, before the
  order leaves, so the ledger balance drops when Deriv's does;
* refused: REFUND, escrow → the trader (nothing happened at Deriv);
* void (cancelled, or sold for the stake): REFUND, escrow → the trader;
* settled for P (Deriv's sell price, 0 when lost): up to the stake from
  escrow back to the trader, the rest of the stake to the realm's Deriv world
  (LOSS), and what P adds over the stake from the Deriv world (PAYOUT).

So the Deriv account's ledger balance moves exactly as Deriv's balance does,
and the balance stream only has real differences to apply (deposits, a demo
reset, trades made elsewhere). Rounding: Deriv quotes cents for USD; anything
finer is rounded down (the ledger's rule).

Bots' contracts settle through the same `contracts_settled` signal as tick
settlement, inside the same transaction, so their risk state updates once.
Taken and entry-spot changes are reported after commit with `contracts_opened`.
"""

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.common.events import send_after_commit
from apps.common.money import money_text
from apps.ledger.models import AccountKind, TransferKind
from apps.ledger.services import TransferSpec, system_account, to_money, transfer_many
from apps.notifications.models import Kind
from apps.notifications.services import NewNotification, notifications_create

from ..models import Contract, Status
from ..signals import contracts_opened, contracts_settled

logger = logging.getLogger(__name__)

# A PENDING order the connection manager has not sent within this long is not
# sent any more: the trader asked for a price that is gone.
SEND_DEADLINE_S = 30


class VenuePurchase(Protocol):
    """The venue's answer to a buy (Deriv's `buy` response: apps.deriv.adapter.Purchase)."""

    contract_id: int  # the venue's own id of the contract
    transaction_id: int
    buy_price: Decimal  # what the venue charged
    payout: Decimal  # what a win pays back, stake included
    purchase_time: int | None  # epoch seconds


class VenueResult(Protocol):
    """The venue's view of an open contract (Deriv's POC: apps.deriv.adapter.OpenContract)."""

    is_settled: bool  # final at the venue (Deriv: is_sold)
    status: str | None  # "won", "lost", "cancelled", or anything else (None too) when sold back early
    sell_price: Decimal | None  # what came back (None: not said)
    payout: Decimal | None  # what a win pays
    buy_price: Decimal | None
    profit: Decimal | None
    sell_time: int | None
    entry_spot: Decimal | None
    entry_spot_time: int | None
    exit_spot: Decimal | None
    exit_spot_time: int | None
    app_markup_amount: Decimal | None  # the app markup the venue charged on it (Deriv: Nexus's revenue there)
    commission: Decimal | None  # the venue's own commission, in the payout currency


def _epoch(value: int | None):
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _payout_percent(stake: Decimal, payout: Decimal) -> Decimal:
    return ((payout / stake - 1) * 100).quantize(Decimal("0.01"))


def deriv_contract_claim(*, contract_id: int) -> Contract | None:
    """Take a PENDING order for sending: True once, for whoever sends it. Never sent twice."""
    claimed = Contract.objects.filter(pk=contract_id, status=Status.PENDING, deriv_sent_at=None).update(
        deriv_sent_at=timezone.now()
    )
    if not claimed:
        return None
    return Contract.objects.select_related("market", "account").get(pk=contract_id)


@transaction.atomic
def deriv_contract_opened(*, contract_id: int, purchase: VenuePurchase) -> bool:
    """Deriv bought it: record Deriv's contract id, price and payout. False if it was not PENDING."""
    contract = Contract.objects.select_for_update().get(pk=contract_id)
    if contract.status != Status.PENDING:
        logger.error(
            "Deriv bought contract %s (Deriv %s) but it is %s here", contract_id, purchase.contract_id, contract.status
        )
        return False
    payout = to_money(purchase.payout)
    if to_money(purchase.buy_price) != contract.stake:
        # `price` in the buy caps what Deriv charges; a lower charge shows in the balance stream.
        logger.warning("Deriv charged %s for contract %s, stake %s", purchase.buy_price, contract_id, contract.stake)
    Contract.objects.filter(pk=contract_id, status=Status.PENDING).update(
        status=Status.OPEN,
        deriv_contract_id=purchase.contract_id,
        deriv_transaction_id=purchase.transaction_id,
        deriv_buy_price=to_money(purchase.buy_price),
        payout=payout,
        payout_percent=_payout_percent(contract.stake, payout),
        purchased_at=_epoch(purchase.purchase_time) or contract.purchased_at,
    )
    send_after_commit(contracts_opened, sender=Contract, contract_ids=[contract_id], user_ids=[contract.user_id])
    return True


def deriv_contract_refuse(*, contract_id: int, note: str, unsent_only: bool = False) -> bool:
    """Deriv did not buy it: REFUSED, the mirrored stake back to the trader. False if already decided.

    `unsent_only`: only an order nobody sent (a request that gave up waiting for the manager).
    """
    with transaction.atomic():
        pending = Contract.objects.filter(pk=contract_id, status=Status.PENDING)
        if unsent_only:
            pending = pending.filter(deriv_sent_at=None)
        row = (
            pending.select_for_update()
            .values(
                "id",
                "user_id",
                "stake",
                "account__ledger_account_id",
                "account__ledger_account__realm",
                "account__currency",
            )
            .first()
        )
        if row is None:
            return False
        now = timezone.now()
        Contract.objects.filter(pk=contract_id, status=Status.PENDING).update(
            status=Status.REFUSED, amount_paid=row["stake"], settled_at=now, deriv_note=note[:200]
        )
        escrow = system_account(
            kind=AccountKind.ESCROW, realm=row["account__ledger_account__realm"], currency=row["account__currency"]
        )
        ref = f"contract:{contract_id}"
        user = row["account__ledger_account_id"]
        refund = TransferSpec(escrow.pk, user, row["stake"], TransferKind.REFUND, f"{ref}:refund", ref)
        # Before the ledger writes (the lock order: a bot's row before ledger accounts).
        contracts_settled.send(
            sender=Contract,
            results=[(contract_id, Status.REFUSED, row["stake"], row["stake"])],
            user_ids=[row["user_id"]],
        )
        transfer_many([refund], return_transfers=False)
    logger.info("Deriv contract %s refused: %s", contract_id, note)
    return True


def deriv_contract_entry(*, contract_id: int, spot: Decimal, epoch: int | None) -> None:
    """The entry spot Deriv reports while the contract is open (shown in the positions)."""
    updated = Contract.objects.filter(pk=contract_id, status=Status.OPEN, entry_spot=None).update(
        entry_spot=spot, entry_time=_epoch(epoch)
    )
    if updated:
        user_id = Contract.objects.filter(pk=contract_id).values_list("user_id", flat=True).first()
        send_after_commit(contracts_opened, sender=Contract, contract_ids=[contract_id], user_ids=[user_id])


def _outcome(poc: VenueResult, stake: Decimal) -> tuple[str, Decimal] | None:
    """(status, paid) from the venue's final word; None when it does not say what was paid."""
    if poc.status == "cancelled":
        return Status.VOID, stake
    if poc.sell_price is not None:
        paid = to_money(poc.sell_price)
    elif poc.status == "won" and poc.payout is not None:
        paid = to_money(poc.payout)
    elif poc.status == "lost":
        paid = Decimal("0.00")
    elif poc.profit is not None and poc.buy_price is not None:
        paid = max(Decimal("0.00"), to_money(poc.buy_price + poc.profit))
    else:
        return None
    if poc.status == "won" and paid > 0:
        return Status.WON, paid
    if poc.status == "lost" and paid < stake:
        return Status.LOST, paid
    # Sold back early (Deriv's own site can), or a status that contradicts the money: judged by what came back.
    if paid == stake:
        return Status.VOID, stake
    return (Status.WON if paid > stake else Status.LOST), paid


_NOTICE = {
    Status.WON: (Kind.CONTRACT_WON, "Won"),
    Status.LOST: (Kind.CONTRACT_LOST, "Lost"),
    Status.VOID: (Kind.CONTRACT_REFUNDED, "Void, stake refunded"),
}


def deriv_contract_settle(*, contract_id: int, poc: VenueResult) -> bool:
    """Settle one Deriv contract from Deriv's result, once. False if it was not OPEN (already settled),
    or if Deriv's final word does not say what was paid (the contract stays OPEN and is asked again)."""
    if not poc.is_settled:
        raise ValueError("not settled at Deriv yet")
    with transaction.atomic():
        row = (
            Contract.objects.filter(pk=contract_id, status=Status.OPEN)
            .select_for_update()
            .values(
                "id",
                "user_id",
                "stake",
                "direction",
                "notify_result",
                "market__name",
                "account__ledger_account_id",
                "account__ledger_account__realm",
                "account__currency",
            )
            .first()
        )
        if row is None:
            return False
        stake = row["stake"]
        result = _outcome(poc, stake)
        if result is None:
            logger.error(
                "Deriv contract %s is final without a price (status %r); asking again", contract_id, poc.status
            )
            return False
        status, paid = result
        updated = Contract.objects.filter(pk=contract_id, status=Status.OPEN).update(
            status=status,
            amount_paid=paid,
            settled_at=timezone.now(),
            entry_spot=poc.entry_spot,
            entry_time=_epoch(poc.entry_spot_time),
            exit_spot=poc.exit_spot,
            exit_time=_epoch(poc.exit_spot_time or poc.sell_time),
            deriv_app_markup=poc.app_markup_amount,
            deriv_commission=poc.commission,
        )
        if updated != 1:
            raise RuntimeError(f"Deriv contract {contract_id} was settled concurrently")
        realm, currency = row["account__ledger_account__realm"], row["account__currency"]
        escrow = system_account(kind=AccountKind.ESCROW, realm=realm, currency=currency).pk
        world = system_account(kind=AccountKind.DERIV, realm=realm, currency=currency).pk
        user = row["account__ledger_account_id"]
        ref = f"contract:{contract_id}"
        back = min(paid, stake)
        specs = []
        if status == Status.VOID:  # the stake back, as tick settlement refunds a void contract
            specs.append(TransferSpec(escrow, user, stake, TransferKind.REFUND, f"{ref}:refund", ref))
        else:
            if back:
                specs.append(TransferSpec(escrow, user, back, TransferKind.PAYOUT, f"{ref}:return", ref))
            if stake - back:
                specs.append(TransferSpec(escrow, world, stake - back, TransferKind.LOSS, f"{ref}:loss", ref))
            if paid > stake:
                specs.append(TransferSpec(world, user, paid - stake, TransferKind.PAYOUT, f"{ref}:win", ref))
        # Before the ledger writes (the lock order: a bot's row before ledger accounts).
        contracts_settled.send(sender=Contract, results=[(contract_id, status, stake, paid)], user_ids=[row["user_id"]])
        transfer_many(specs, return_transfers=False)
        if row["notify_result"]:
            kind, verdict = _NOTICE[status]
            notifications_create(
                [
                    NewNotification(
                        user_id=row["user_id"],
                        kind=kind,
                        title=f"{verdict}: {row['direction'].title()} on {row['market__name']} (Deriv)",
                        body=(
                            f"Stake {money_text(stake)}, paid {money_text(paid)} "
                            f"({money_text(paid - stake, signed=True)})."
                        ),
                        link=reverse("trading:contract", args=[contract_id]),
                    )
                ]
            )
    logger.info("Deriv contract %s settled: %s, paid %s", contract_id, status, paid)
    return True
