"""One lock order for ledger accounts: ascending id, in `transfer`, `transfer_many` and `ledger_accounts_lock`.

A manual buy (one transfer: the trader's account to escrow) and a settlement
(a batch: escrow and the house to traders) touch the same accounts; locking
them in different orders deadlocks on PostgreSQL.
"""

import re
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.accounts.services import account_open_demo
from apps.ledger.checks import ledger_breaches
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import (
    InsufficientFunds,
    TransferSpec,
    ledger_account_open,
    ledger_accounts_lock,
    system_account,
    transfer,
    transfer_many,
)
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle
from apps.users.models import User
from tests.support.threads import run_threads
from tests.trading.support import buy, make_market, write_tick

TABLE = LedgerAccount._meta.db_table


class LedgerWrites:
    """The ids of the ledger accounts each UPDATE writes (and so locks), in the order the database gets them."""

    def __init__(self):
        self.ids: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("UPDATE") and TABLE in sql:
            if many:
                # transfer_many's `... WHERE id = %s`: the id is each row's last parameter.
                self.ids += [row[-1] for row in params]
            else:
                executed = connection.ops.last_executed_query(context["cursor"], sql, params)
                self.ids += [int(pk) for pk in re.findall(rf'"{TABLE}"\."id" = (\d+)', executed)]
        return result


@pytest.fixture
def books(user, other_user):
    """The house, then an older and a newer trader's account, funded."""
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    house = system_account(kind=AccountKind.HOUSE, realm=Realm.DEMO, currency="USD")
    older = ledger_account_open(owner=user, code="user:older", name="Older", realm=Realm.DEMO, currency="USD")
    newer = ledger_account_open(owner=other_user, code="user:newer", name="Newer", realm=Realm.DEMO, currency="USD")
    for account in (older, newer):
        transfer(
            debit=world,
            credit=account,
            amount=Decimal("100.00"),
            kind=TransferKind.ISSUE,
            idempotency_key=f"fund:{account.pk}",
        )
    assert house.pk < older.pk < newer.pk
    return {"house": house, "older": older, "newer": newer}


def balance(account) -> Decimal:
    return LedgerAccount.objects.get(pk=account.pk).balance


def test_a_transfer_to_an_older_account_writes_the_older_one_first(books):
    older, newer = books["older"], books["newer"]
    writes = LedgerWrites()
    with connection.execute_wrapper(writes):
        transfer(debit=newer, credit=older, amount=Decimal("10.00"), kind=TransferKind.ADJUSTMENT, idempotency_key="a")
    assert writes.ids == [older.pk, newer.pk]
    assert (balance(older), balance(newer)) == (Decimal("110.00"), Decimal("90.00"))


def test_a_transfer_to_a_newer_account_writes_the_debit_first(books):
    older, newer = books["older"], books["newer"]
    writes = LedgerWrites()
    with connection.execute_wrapper(writes):
        transfer(debit=older, credit=newer, amount=Decimal("10.00"), kind=TransferKind.ADJUSTMENT, idempotency_key="a")
    assert writes.ids == [older.pk, newer.pk]
    assert (balance(older), balance(newer)) == (Decimal("90.00"), Decimal("110.00"))


def test_a_transfer_refused_for_funds_after_the_credit_was_written_leaves_both_balances(books):
    older, newer = books["older"], books["newer"]
    with pytest.raises(InsufficientFunds):
        transfer(debit=newer, credit=older, amount=Decimal("100.01"), kind=TransferKind.ADJUSTMENT, idempotency_key="a")
    assert (balance(older), balance(newer)) == (Decimal("100.00"), Decimal("100.00"))
    assert not Transfer.objects.filter(idempotency_key="a").exists()


def test_a_batch_writes_its_accounts_in_ascending_id_order(books):
    house, older, newer = books["house"], books["older"], books["newer"]
    specs = [
        TransferSpec(newer.pk, older.pk, Decimal("10.00"), TransferKind.ADJUSTMENT, "a", ""),
        TransferSpec(house.pk, newer.pk, Decimal("3.00"), TransferKind.PAYOUT, "b", ""),
        TransferSpec(older.pk, house.pk, Decimal("1.00"), TransferKind.ADJUSTMENT, "c", ""),
    ]
    writes = LedgerWrites()
    with connection.execute_wrapper(writes), transaction.atomic():
        transfer_many(specs, return_transfers=False)
    assert writes.ids == [house.pk, older.pk, newer.pk]


def test_locking_accounts_takes_them_in_ascending_id_order_and_reads_their_balances(books):
    house, older, newer = books["house"], books["older"], books["newer"]
    with transaction.atomic():
        balances = ledger_accounts_lock(ids=[newer.pk, house.pk, older.pk, newer.pk])
    assert list(balances) == [house.pk, older.pk, newer.pk]
    assert balances[newer.pk] == Decimal("100.00")


def test_locking_accounts_is_one_ordered_locking_read(books):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        ledger_accounts_lock(ids=[books["newer"].pk, books["older"].pk])
    (query,) = [q["sql"] for q in queries if TABLE in q["sql"]]
    # Ordered by the id, selected first ("1" when Django names it by position).
    assert re.search(rf'ORDER BY (1|"{TABLE}"\."id") ASC', query)
    assert query.startswith(f'SELECT "{TABLE}"."id"')
    if connection.features.has_select_for_update:
        assert query.endswith("FOR UPDATE")


@pytest.fixture
def patient_prices(settings):
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 600.0}


@pytest.mark.dbsensitive
def test_manual_buys_and_settlements_on_the_same_accounts_at_once_never_deadlock(transactional_db, patient_prices):
    # Escrow and the house before the traders: a settlement locks them before the traders' accounts.
    escrow = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency="USD")
    system_account(kind=AccountKind.HOUSE, realm=Realm.DEMO, currency="USD")
    market = make_market()
    traders = [account_open_demo(user=User.objects.create_user(f"t{i}@example.com", "pw")) for i in range(3)]
    assert escrow.pk < min(t.ledger_account_id for t in traders)
    rounds = 60

    def work(i):
        if i < len(traders):
            for n in range(rounds):
                buy(traders[i], market, direction="RISE" if n % 2 else "FALL", stake="1.00", duration=1)
        else:
            for n in range(rounds):
                write_tick(market, "100.00" if n % 2 else "101.00")
                contracts_settle(market_ids=[market.pk])

    results, exceptions = run_threads(len(traders) + 1, work)

    assert exceptions == []
    assert Contract.objects.count() == rounds * len(traders)
    assert Contract.objects.exclude(status=Status.OPEN).exists()
    assert ledger_breaches() == []
