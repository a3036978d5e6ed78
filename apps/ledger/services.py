"""Writes to the ledger. The only code that changes balances.

Rounding rule: money is Decimal with its currency's places (`currency_places`):
two for fiat money, eight for a crypto asset. Amounts people type must
already have at most two places (forms reject more); amounts the platform
computes (payouts) are rounded down to the cent with `to_money`, so the
platform never pays a fraction of a cent it did not earn. Exchange fills
arrive with the market's own precision, never more than eight places.

Lock order: ledger accounts are locked in ascending id order, everywhere, and
last. `transfer` writes its two accounts lowest id first, `transfer_many`
writes each account once in id order, and a caller that must read balances
before moving money locks them with `ledger_accounts_lock` (ascending ids,
every account the transaction will write, escrow and worlds included). Rows
of other apps that a money-moving transaction locks (a contract, bots' risk
state) are locked before any ledger account. So a manual buy (the trader's
account and escrow), a bulk purchase and a settlement (escrow, the house and
many traders) wait for each other on PostgreSQL instead of deadlocking.
"""

from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Round
from django.utils import timezone

from .models import CRYPTO_PLACES, AccountKind, Entry, LedgerAccount, Realm, Transfer, currency_places

CENT = Decimal("0.01")


class LedgerError(Exception):
    pass


class InsufficientFunds(LedgerError):
    def __init__(self, account: LedgerAccount, amount: Decimal):
        super().__init__(f"{account.code} cannot pay {amount}")
        self.account = account
        self.amount = amount


class IdempotencyConflict(LedgerError):
    """The key was used before for a different movement."""


def to_money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_DOWN)


def _check_amount(amount: Decimal, currency: str) -> None:
    if not isinstance(amount, Decimal):
        raise TypeError("Ledger amounts are Decimal.")
    places = currency_places(currency)
    if amount <= 0 or amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise LedgerError(f"Invalid amount {amount!r}: positive, at most {places} decimal places in {currency}.")


_SYSTEM_NAMES = {
    AccountKind.ESCROW: "Escrow",
    AccountKind.HOUSE: "House",
    AccountKind.REVENUE: "Platform revenue",
    AccountKind.WORLD: "World",
    AccountKind.DERIV: "Deriv world",
    AccountKind.EXCHANGE: "Exchange world",
    AccountKind.FEES: "Exchange fees",
}


def system_account(*, kind: str, realm: str, currency: str) -> LedgerAccount:
    """The one system account of a kind per realm and currency, created on first use."""
    if kind == AccountKind.USER:
        raise ValueError("User accounts are opened with ledger_account_open.")
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"{kind.lower()}:{realm}:{currency}",
        defaults={
            "name": f"{_SYSTEM_NAMES[kind]} {realm.lower()} {currency}",
            "kind": kind,
            "realm": realm,
            "currency": currency,
            "allow_negative": kind in (AccountKind.WORLD, AccountKind.HOUSE, AccountKind.DERIV, AccountKind.EXCHANGE),
        },
    )
    return account


def ledger_account_open(
    *,
    owner=None,
    owner_id: int | None = None,
    code: str,
    name: str,
    realm: str = Realm.DEMO,
    currency: str,
    kind: str = AccountKind.USER,
) -> LedgerAccount:
    """An account a user owns: their money (USER) or, for a partner, their earnings (PARTNER)."""
    if kind not in (AccountKind.USER, AccountKind.PARTNER):
        raise ValueError("System accounts are opened with system_account.")
    return LedgerAccount.objects.create(
        code=code,
        name=name,
        kind=kind,
        realm=realm,
        currency=currency,
        owner=owner,
        owner_id=owner_id if owner is None else owner.pk,
    )


def ledger_accounts_open(*, accounts: list[dict]) -> dict[str, int]:
    """Open many USER accounts at once (each `code`, `name`, `realm`, `currency`, `owner_id`); those already
    open stay as they are. Every code's account id."""
    LedgerAccount.objects.bulk_create(
        [LedgerAccount(kind=AccountKind.USER, **fields) for fields in accounts], ignore_conflicts=True
    )
    return dict(LedgerAccount.objects.filter(code__in=[a["code"] for a in accounts]).values_list("code", "id"))


def ledger_accounts_lock(*, ids: Iterable[int]) -> dict[int, Decimal]:
    """Lock these accounts until the caller's transaction ends, in ascending id order; their balances, by id.

    For a caller that decides from balances before moving money: nobody else
    changes them until it commits. Pass every account the transaction will
    write (escrow and worlds too): one taken later, with a lower id, would
    break the lock order. The dict is in ascending id order.
    """
    return dict(
        LedgerAccount.objects.select_for_update().filter(pk__in=set(ids)).order_by("pk").values_list("pk", "balance")
    )


class TransferSpec(NamedTuple):
    """One transfer of a `transfer_many` batch (a tuple: settlement builds tens of thousands at once)."""

    debit_id: int
    credit_id: int
    amount: Decimal
    kind: str
    idempotency_key: str
    reference: str = ""


def transfer(
    *,
    debit: LedgerAccount,
    credit: LedgerAccount,
    amount: Decimal,
    kind: str,
    idempotency_key: str,
    reference: str = "",
    new_key: bool = False,
) -> Transfer:
    """Move `amount` from `debit` to `credit`, once per idempotency key.

    The debit is a conditional UPDATE (`balance >= amount`), so concurrent
    spenders can never take an account below zero. The rows are written
    first and the two balances last, lowest id first (the lock order), so
    the accounts' rows stay locked for as little of the caller's transaction
    as it leaves after this call; a refused debit rolls back with this transfer.

    `new_key`: the caller built the key from a row it inserted in its own
    transaction (a new contract's id), so no transfer can carry it yet. The
    look-up is skipped and so is this transfer's savepoint: a refused debit
    raises InsufficientFunds and the caller's transaction, which it must be
    inside, rolls back whole.
    """
    _check_amount(amount, debit.currency)
    if debit.currency != credit.currency or debit.realm != credit.realm:
        raise LedgerError("Transfers stay within one realm and one currency.")
    if new_key:
        if not transaction.get_connection().in_atomic_block:
            raise LedgerError("A transfer with a new key must run inside the transaction that made the key.")
        return _transfer_write(debit, credit, amount, kind, idempotency_key, reference)
    with transaction.atomic():
        existing = Transfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if (existing.debit_id, existing.credit_id, existing.amount) != (debit.pk, credit.pk, amount):
                raise IdempotencyConflict(idempotency_key)
            return existing
        return _transfer_write(debit, credit, amount, kind, idempotency_key, reference)


def _transfer_write(debit, credit, amount: Decimal, kind: str, idempotency_key: str, reference: str) -> Transfer:
    created = Transfer.objects.create(
        idempotency_key=idempotency_key,
        kind=kind,
        debit=debit,
        credit=credit,
        amount=amount,
        currency=debit.currency,
        reference=reference,
    )
    Entry.objects.bulk_create(
        [
            Entry(transfer=created, account_id=debit.pk, amount=-amount),
            Entry(transfer=created, account_id=credit.pk, amount=amount),
        ]
    )
    debited = LedgerAccount.objects.filter(pk=debit.pk)
    if not debit.allow_negative:
        debited = debited.filter(balance__gte=amount)
    credited = LedgerAccount.objects.filter(pk=credit.pk)
    # Rounded to the ledger's scale in SQL: SQLite keeps decimals as binary floats, and
    # without it repeated updates drift (ten 0.10 stakes leave 0.9999999999999999),
    # so an account holding exactly enough is refused or breaks the >= 0 check.
    if credit.pk < debit.pk:
        credited.update(balance=Round(F("balance") + amount, CRYPTO_PLACES))
    if debited.update(balance=Round(F("balance") - amount, CRYPTO_PLACES)) != 1:
        raise InsufficientFunds(debit, amount)
    if credit.pk > debit.pk:
        credited.update(balance=Round(F("balance") + amount, CRYPTO_PLACES))
    return created


def transfer_many(specs: Iterable[TransferSpec], *, return_transfers: bool = True) -> list[Transfer]:
    """Write many transfers as a set: multi-row inserts and one balance update per account.

    Meant for settlement, where thousands of transfers land at once. Runs in
    the caller's transaction (it must be inside one). A repeated idempotency
    key or a balance driven below zero raises and the caller's transaction
    rolls back whole.

    Returns the transfers written, in the order of `specs`. A caller with no
    use for them passes `return_transfers=False` and gets an empty list:
    building tens of thousands of instances is a third of the work.
    """
    specs = list(specs)
    if not specs:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise LedgerError("transfer_many must run inside a transaction.")
    # (currency, realm) by account id: rows, not model instances, for thousands of accounts.
    accounts = {
        pk: (currency, realm)
        for pk, currency, realm in LedgerAccount.objects.filter(
            pk__in={s.debit_id for s in specs} | {s.credit_id for s in specs}
        ).values_list("id", "currency", "realm")
    }
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    for spec in specs:
        _check_amount(spec.amount, accounts[spec.debit_id][0])
        if accounts[spec.debit_id] != accounts[spec.credit_id]:
            raise LedgerError("Transfers stay within one realm and one currency.")
        deltas[spec.debit_id] -= spec.amount
        deltas[spec.credit_id] += spec.amount

    # Plain multi-row INSERTs rather than bulk_create: preparing a model
    # instance per row cost several times the inserts themselves.
    now = timezone.now()
    created_at = connection.ops.adapt_datetimefield_value(now)
    rows = [
        (s.idempotency_key, s.kind, s.debit_id, s.credit_id, s.amount, accounts[s.debit_id][0], s.reference, created_at)
        for s in specs
    ]
    with connection.cursor() as cursor:
        try:
            ids = _transfers_insert(cursor, rows, ids_wanted=return_transfers)
        except IntegrityError as exc:
            raise IdempotencyConflict("a transfer in this batch was already written") from exc

        table = connection.ops.quote_name(LedgerAccount._meta.db_table)
        try:
            # In id order: the ledger's lock order (see the module's docstring).
            cursor.executemany(
                f"UPDATE {table} SET balance = ROUND(balance + %s, {CRYPTO_PLACES}) WHERE id = %s",
                [(delta, pk) for pk, delta in sorted(deltas.items()) if delta],
            )
        except IntegrityError as exc:
            # The non-negative CHECK constraint: some account would go below zero.
            raise LedgerError("A transfer batch would take an account below zero.") from exc

    if not return_transfers:
        return []
    transfers = [
        Transfer(id=pk, created_at=now, **dict(zip(_TRANSFER_FIELDS, row[:-1], strict=True)))
        for pk, row in zip(ids, rows, strict=True)
    ]
    for t in transfers:
        # As bulk_create leaves them: saved, so save() refuses to write them again.
        t._state.adding = False
        t._state.db = connection.alias
    return transfers


def _transfers_insert(cursor, rows: list[tuple], *, ids_wanted: bool = True) -> list[int]:
    """Insert the transfer rows and both entries of each; the transfers' ids, in the rows' order.

    SQLite: one prepared statement run over every row (`executemany`), the fastest way it takes
    rows. A transaction there holds the database's only write lock, so the rows get consecutive
    ids ending at `last_insert_rowid()` (checked). PostgreSQL: one statement for transfers and
    entries, the transfers inserted from one array per column and the entries from the rows that
    insert returns; ids matched back by key when wanted (RETURNING promises no row order), and
    none sent back otherwise (an empty list).
    """
    if connection.vendor != "sqlite":
        return _transfers_and_entries_insert(cursor, rows, ids_wanted=ids_wanted)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(Transfer._meta.get_field(name).column) for name in _INSERT_FIELDS)
    table = quote(Transfer._meta.db_table)
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})", rows)
    cursor.execute("SELECT last_insert_rowid()")
    last = cursor.fetchone()[0]
    first = last - len(rows) + 1
    cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE id BETWEEN %s AND %s", [first, last])
    if cursor.fetchone()[0] != len(rows):
        raise LedgerError("The transfers of a batch did not get consecutive ids.")
    _entries_insert(cursor, first, last)
    return list(range(first, last + 1))


def _transfers_and_entries_insert(cursor, rows: list[tuple], *, ids_wanted: bool) -> list[int]:
    """PostgreSQL: the transfers and their entries in one statement (a data-modifying WITH)."""
    quote = connection.ops.quote_name
    fields = [Transfer._meta.get_field(name) for name in _INSERT_FIELDS]
    columns = ", ".join(quote(f.column) for f in fields)
    # Types lose their length so that no value is cut short: varchar[], not varchar(200)[].
    arrays = ", ".join(f"%s::{f.db_type(connection).split('(')[0]}[]" for f in fields)
    table, entry = quote(Transfer._meta.db_table), quote(Entry._meta.db_table)
    result = "SELECT idempotency_key, id FROM t" if ids_wanted else "SELECT COUNT(*) FROM t"
    cursor.execute(
        f"WITH t AS (INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({arrays})"
        " RETURNING id, idempotency_key, debit_id, credit_id, amount, created_at),"
        f" e AS (INSERT INTO {entry} (transfer_id, account_id, amount, created_at)"
        " SELECT id, debit_id, -amount, created_at FROM t UNION ALL SELECT id, credit_id, amount, created_at FROM t)"
        f" {result}",
        [list(column) for column in zip(*rows, strict=True)],
    )
    if not ids_wanted:
        if cursor.fetchone()[0] != len(rows):
            raise LedgerError("A transfer of the batch was not written.")
        return []
    returned = dict(cursor.fetchall())
    return [returned[row[0]] for row in rows]


def _entries_insert(cursor, first: int, last: int) -> None:
    """SQLite: both entries of the transfers with ids first..last, written by the database from the transfer rows.

    One statement whatever their number: binding four values per entry from Python cost more than
    the database's own work.
    """
    entry = connection.ops.quote_name(Entry._meta.db_table)
    table = connection.ops.quote_name(Transfer._meta.db_table)
    cursor.execute(
        f"INSERT INTO {entry} (transfer_id, account_id, amount, created_at)"
        f" SELECT id, debit_id, -amount, created_at FROM {table} WHERE id BETWEEN %s AND %s"
        f" UNION ALL SELECT id, credit_id, amount, created_at FROM {table} WHERE id BETWEEN %s AND %s",
        [first, last, first, last],
    )


_TRANSFER_FIELDS = ("idempotency_key", "kind", "debit_id", "credit_id", "amount", "currency", "reference")
_INSERT_FIELDS = (*_TRANSFER_FIELDS, "created_at")
