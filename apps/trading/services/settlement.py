"""Settling Rise/Fall contracts on our own markets from our own ticks, as sets.

Deriv contracts never settle here: the venue's result settles them (venue.py).
Every settled batch is reported inside its transaction with `contracts_settled`.
"""

import logging
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, CharField, OuterRef, Subquery, When
from django.urls import reverse
from django.utils import timezone

from apps.common.money import fees_text, money_text
from apps.ledger.models import AccountKind, TransferKind
from apps.ledger.services import TransferSpec, system_account, transfer_many
from apps.markets.models import Market, Tick, TieRule
from apps.notifications.models import Kind
from apps.notifications.services import NewNotification, notifications_create
from apps.revenue.services import partner_earnings_accounts

from ..models import Contract, Direction, DurationUnit, Status
from ..selectors import contracts_due, markets_to_tell_paused, open_contract_user_ids
from ..signals import contracts_settled

logger = logging.getLogger(__name__)

SETTLE_BATCH = 20_000

# Ticks order by market by default, which would join markets_market into
# every lookup; order_by() drops that.
_entry_tick = Tick.objects.filter(market=OuterRef("market"), seq=OuterRef("purchase_seq") + 1).order_by()
_exit_tick_by_count = Tick.objects.filter(
    market=OuterRef("market"), seq=OuterRef("purchase_seq") + 1 + OuterRef("duration")
).order_by()
# Last tick at or before expiry, and after the purchase. The feed writes ticks
# in time order, so the latest time is also the highest seq (which breaks
# ties); ordering by time lets the (market, time) index find it in one step
# instead of walking back over every tick written since expiry.
_exit_tick_by_time = Tick.objects.filter(
    market=OuterRef("market"), seq__gt=OuterRef("purchase_seq"), time__lte=OuterRef("expires_at")
).order_by("-time", "-seq")


def _spot(field: str, name: str, output_field=None) -> dict:
    """Entry and exit expressions of a tick field, to annotate the due contracts with."""
    return {
        f"entry_{name}": Subquery(_entry_tick.values(field)[:1], output_field=output_field),
        f"exit_{name}": Case(
            When(
                duration_unit=DurationUnit.TICKS,
                then=Subquery(_exit_tick_by_count.values(field)[:1], output_field=output_field),
            ),
            default=Subquery(_exit_tick_by_time.values(field)[:1], output_field=output_field),
        ),
    }


def _tick_times() -> dict:
    """Entry and exit tick times (entry_at, exit_at), to be written on the contracts as they are.

    On SQLite as the text it stores, copied back unparsed: turning ten
    thousand of them into datetimes and back into text was a tenth of a
    batch's work there.
    """
    return _spot("time", "at", CharField() if connection.vendor == "sqlite" else None)


def outcome(*, direction: str, entry: Decimal | None, exit: Decimal | None, tie_rule: str) -> str:
    """Deriv's rules: Rise wins if exit > entry, Fall if exit < entry; equal follows the tie rule."""
    if entry is None or exit is None:
        return Status.VOID
    if entry == exit:
        return Status.TIE if tie_rule == TieRule.REFUND else Status.LOST
    rose = exit > entry
    return Status.WON if rose == (direction == Direction.RISE) else Status.LOST


# What reaches the trader's account: a win pays its payout less the commission and markup fixed at purchase.
_PAID_AMOUNT = {
    Status.WON: lambda row: row["payout"] - row["commission"] - row["markup"],
    Status.TIE: lambda row: row["stake"],
    Status.VOID: lambda row: row["stake"],
    Status.LOST: lambda row: Decimal("0.00"),
}


def contracts_settle(*, market_ids: list[int] | None = None, limit: int = SETTLE_BATCH) -> list[int]:
    """Settle every due contract as one set: one select, one update, bulk ledger writes.

    Exactly once: contracts are claimed with a conditional update
    (status=OPEN), under the database's write lock on SQLite and with
    row locks skipping what another worker holds on PostgreSQL. A worker
    that dies before commit leaves everything as it was for the retry.
    """
    with transaction.atomic():
        due = contracts_due(market_ids=market_ids)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(
            due.annotate(**_spot("price", "price"), **_tick_times())
            .order_by("id")
            .values(
                "id",
                "direction",
                "stake",
                "payout",
                "commission",
                "markup",
                "partner_id",
                "tie_rule",
                "account__currency",
                "account__ledger_account_id",
                "account__ledger_account__realm",
                "user_id",
                "market__name",
                "notify_result",
                "entry_price",
                "exit_price",
                "entry_at",
                "exit_at",
            )[:limit]
        )
        if not rows:
            return []
        groups: dict[str, list[dict]] = {s: [] for s in _PAID_AMOUNT}
        for row in rows:
            status = outcome(
                direction=row["direction"], entry=row["entry_price"], exit=row["exit_price"], tie_rule=row["tie_rule"]
            )
            groups[status].append(row)

        updated = _contracts_record(
            [
                (
                    row["id"],
                    status,
                    _PAID_AMOUNT[status](row),
                    *((row["commission"], row["markup"]) if status == Status.WON else _NO_FEES),
                    row["entry_price"],
                    row["entry_at"],
                    row["exit_price"],
                    row["exit_at"],
                )
                for status, group in groups.items()
                for row in group
            ],
            settled_at=timezone.now(),
        )
        if updated != len(rows):
            raise RuntimeError("Contracts were settled concurrently; rolling back this run.")

        # Before the ledger writes: receivers lock their rows (bots) before any ledger account is.
        contracts_settled.send(
            sender=Contract,
            results=[
                (row["id"], status, row["stake"], _PAID_AMOUNT[status](row))
                for status, group in groups.items()
                for row in group
            ],
            user_ids=sorted({row["user_id"] for row in rows}),
        )
        transfer_many(_settlement_transfers(groups), return_transfers=False)
        notifications_create(_settlement_notices(groups))
    logger.info("settled %d contracts", len(rows))
    return [row["id"] for row in rows]


# Only a win carries commission and markup.
_NO_FEES = (Decimal("0.00"), Decimal("0.00"))

# What settlement writes on each contract, after its id (settled_at is one value for the batch).
_RECORDED = ("status", "amount_paid", "commission", "markup", "entry_spot", "entry_time", "exit_spot", "exit_time")


def _contracts_record(settled: list[tuple], *, settled_at) -> int:
    """Write each contract's outcome (id, then the `_RECORDED` values) if it is still open; how many were.

    One statement for the whole batch: on PostgreSQL an UPDATE joined to one
    array per column, on SQLite one prepared UPDATE run over every row. The
    values come from the select that decided the outcomes, so no tick is
    looked up twice.
    """
    quote = connection.ops.quote_name
    table = quote(Contract._meta.db_table)
    fields = [Contract._meta.get_field(name) for name in _RECORDED]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
            names = ", ".join(quote(f.column) for f in fields)
            arrays = ", ".join(f"%s::{f.db_type(connection).split('(')[0]}[]" for f in fields)
            cursor.execute(
                f"UPDATE {table} SET settled_at = %s, {assignments}"
                f" FROM UNNEST(%s::bigint[], {arrays}) AS v(id, {names})"
                f" WHERE {table}.id = v.id AND {table}.{quote('status')} = %s",
                [settled_at, *(list(column) for column in zip(*settled, strict=True)), Status.OPEN],
            )
            return cursor.rowcount
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        at = connection.ops.adapt_datetimefield_value(settled_at)
        cursor.executemany(
            f"UPDATE {table} SET settled_at = %s, {assignments} WHERE id = %s AND {quote('status')} = %s",
            [(at, *values, pk, Status.OPEN) for pk, *values in settled],
        )
        return cursor.rowcount


def _settlement_transfers(groups: dict[str, list[dict]]):
    accounts: dict[tuple[str, str, str], int] = {}
    partners = partner_earnings_accounts(
        (row["partner_id"], row["account__ledger_account__realm"], row["account__currency"])
        for row in groups[Status.WON]
        if row["markup"]
    )

    def system(kind: str, row: dict) -> int:
        book = (kind, row["account__ledger_account__realm"], row["account__currency"])
        if book not in accounts:
            accounts[book] = system_account(kind=kind, realm=book[1], currency=book[2]).pk
        return accounts[book]

    for status, group in groups.items():
        for row in group:
            escrow = system(AccountKind.ESCROW, row)
            user = row["account__ledger_account_id"]
            key, ref = f"contract:{row['id']}", f"contract:{row['id']}"
            if status == Status.LOST:
                house = system(AccountKind.HOUSE, row)
                yield TransferSpec(escrow, house, row["stake"], TransferKind.LOSS, f"{key}:loss", ref)
            elif status == Status.WON:
                house = system(AccountKind.HOUSE, row)
                yield TransferSpec(escrow, user, row["stake"], TransferKind.PAYOUT, f"{key}:return", ref)
                if row["payout"] > row["stake"]:
                    yield TransferSpec(
                        house, user, row["payout"] - row["stake"], TransferKind.PAYOUT, f"{key}:win", ref
                    )
                if row["commission"]:
                    revenue = system(AccountKind.REVENUE, row)
                    yield TransferSpec(
                        user, revenue, row["commission"], TransferKind.COMMISSION, f"{key}:commission", ref
                    )
                if row["markup"]:
                    book = (row["partner_id"], row["account__ledger_account__realm"], row["account__currency"])
                    yield TransferSpec(user, partners[book], row["markup"], TransferKind.MARKUP, f"{key}:markup", ref)
            else:
                yield TransferSpec(escrow, user, row["stake"], TransferKind.REFUND, f"{key}:refund", ref)


_NOTICE = {
    Status.WON: (Kind.CONTRACT_WON, "Won"),
    Status.LOST: (Kind.CONTRACT_LOST, "Lost"),
    Status.TIE: (Kind.CONTRACT_REFUNDED, "Tie, stake refunded"),
    Status.VOID: (Kind.CONTRACT_REFUNDED, "Void, stake refunded"),
}


# Any id works: it is swapped for each contract's own.
_LINK_ID = 987654321


def _settlement_notices(groups: dict[str, list[dict]]):
    # One reverse() per batch: per row it was a third of the notices' cost.
    link = reverse("trading:contract", args=[_LINK_ID]).replace(str(_LINK_ID), "{}")
    for status, group in groups.items():
        kind, verdict = _NOTICE[status]
        for row in group:
            if not row["notify_result"]:
                continue
            paid = _PAID_AMOUNT[status](row)
            net = money_text(paid - row["stake"], signed=True)
            body = f"Stake {money_text(row['stake'])}, paid {money_text(paid)} ({net})."
            if status == Status.WON and (row["commission"] or row["markup"]):
                fees = fees_text(commission=row["commission"], markup=row["markup"])
                body = f"Stake {money_text(row['stake'])}, pays {money_text(row['payout'])}{fees}: net profit {net}."
            yield NewNotification(
                user_id=row["user_id"],
                kind=kind,
                title=f"{verdict}: {row['direction'].title()} on {row['market__name']}",
                body=body,
                link=link.format(row["id"]),
            )


def paused_markets_notify() -> int:
    """Tell traders with open contracts on a market whose prices stopped, once per pause."""
    notified = 0
    for market in markets_to_tell_paused():
        user_ids = open_contract_user_ids(market=market)
        with transaction.atomic():
            Market.objects.filter(pk=market.pk).update(paused_notice_at=timezone.now())
            notifications_create(
                NewNotification(
                    user_id=user_id,
                    kind=Kind.MARKET_PAUSED,
                    title=f"Prices paused on {market.name}",
                    body="No new trades there until prices resume; open contracts settle on the next prices.",
                    link=f"{reverse('trading:trade')}?market={market.symbol}",
                )
                for user_id in user_ids
            )
        notified += len(user_ids)
    return notified
