"""Settlement benchmark: the set-based `contracts_settle` against a per-contract loop.

    .venv/bin/python bench/settlement.py [--sizes 1000,10000] [--repeat 3] [--buys 2000] [--profile]

Runs on a fresh SQLite database in a temporary directory. If DATABASE_URL
points at PostgreSQL, the same measurements also run there, in databases this
script creates and drops (the role needs CREATEDB).

For each size N it builds N open contracts on one OTC market, spread over N/10
demo accounts (rows written in bulk, stakes moved through the real ledger with
one `transfer_many`), writes the ticks that make every contract due, then times

  real   apps.trading.services.settlement.contracts_settle()
  naive  a per-contract loop written below: load the contract, look up its
         ticks, decide with `outcome`, `.save()`, one `transfer()` per money
         movement and one notice per contract, as the real path sends

on identical data (same seed, fresh database each run). Both must leave the
same contracts, books and notices, and `ledger_breaches()` must be empty after
every run; anything else aborts. It also times single purchases through
`contract_buy` (one ledger transfer each, after-commit pushes included), and
settling the largest size of contracts that all win, with commission and
partner markup (four transfers each) and without (two), side by side.

With --profile, one more run of each shape at the largest size (mixed
outcomes; all wins with commission and markup) times every statement it
sends, the commit included, and prints the statements that took longest next
to the time spent outside them (Python, and on SQLite the rows of a SELECT
computed as they are fetched). Those runs are not part of the figures.

Seconds are wall-clock; CPU seconds are this process's alone, which helps
read the figures on a busy machine. The real path's figures are the median
of --repeat runs, with the time it spends in the ledger and in notices; the
naive loop runs once per size (it takes seconds, so run-to-run noise is small
next to it). Nothing here asserts on time. The last line printed is one JSON
object with every figure.
"""

import argparse
import hashlib
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 20240601
HISTORY_TICKS = 300  # contracts are bought somewhere in this stretch
FUTURE_TICKS = 400  # written afterwards: they make every contract due
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


# --- Environment, before Django is imported ---------------------------------


def _configure(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "nexus.settings"
    os.environ["DEBUG"] = "on"
    os.environ["DATABASE_URL"] = database_url
    # Nothing leaves this process: pushes go to an in-memory channel layer
    # (never a shared Redis), and worker tasks are queued in the throwaway
    # database, not run inline, so the timings are settlement's own work.
    os.environ["REDIS_URL"] = ""
    os.environ["Q_SYNC"] = "off"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.conf import settings

    # DEBUG=on supplies the development settings (secret key, no HTTPS
    # redirect). Its query log is switched off before anything is timed: it
    # would tax the naive loop's tens of thousands of queries far more than the
    # real path's few hundred (on SQLite each logged query runs another one to
    # quote its parameters).
    settings.DEBUG = False


# --- Fresh databases ----------------------------------------------------------


class SqliteDatabases:
    """A migrated template file, copied for every run."""

    label = "sqlite"

    def __init__(self, directory: str):
        self.directory = Path(directory)
        self.template = self.directory / "template.sqlite3"

    def prepare(self) -> None:
        from django.core.management import call_command

        _use(str(self.template))
        call_command("migrate", verbosity=0)
        _close()

    def fresh(self, name: str) -> str:
        path = self.directory / f"{name}.sqlite3"
        shutil.copyfile(self.template, path)
        return str(path)

    def drop(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)

    def finish(self) -> None:
        pass

    def version(self) -> str:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"


class PostgresDatabases:
    """A migrated template database, cloned with CREATE DATABASE ... TEMPLATE for every run."""

    label = "postgresql"

    def __init__(self, maintenance_url: str):
        import environ

        self.server = environ.Env.db_url_config(maintenance_url)
        self.prefix = f"nexus_bench_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []

    def _admin(self, sql: str) -> None:
        import psycopg
        from psycopg import sql as pgsql

        s = self.server
        with psycopg.connect(
            dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"], host=s["HOST"], port=s["PORT"] or None
        ) as conn:
            conn.autocommit = True
            conn.execute(pgsql.SQL(sql))

    def prepare(self) -> None:
        from django.core.management import call_command

        self._admin(f'CREATE DATABASE "{self.template}"')
        self.created.append(self.template)
        _use(self.template)
        call_command("migrate", verbosity=0)
        _close()

    def fresh(self, name: str) -> str:
        full = f"{self.prefix}_{name}"
        self._admin(f'CREATE DATABASE "{full}" TEMPLATE "{self.template}"')
        self.created.append(full)
        return full

    def drop(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}"')
        if name in self.created:
            self.created.remove(name)

    def finish(self) -> None:
        for name in reversed(list(self.created)):
            self.drop(name)

    def version(self) -> str:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"


def _use(name: str) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def _close() -> None:
    from django.db import connection

    connection.close()


@contextmanager
def fresh_database(databases, name: str):
    path = databases.fresh(name)
    _use(path)
    try:
        yield
    finally:
        _close()
        databases.drop(path)


# --- Data -------------------------------------------------------------------


def build_market(*, tick_interval_ms: int = 1000):
    from apps.markets.models import Market, Source, TieRule, VolatilityMode

    return Market.objects.create(
        symbol="BENCH_OTC",
        name="Bench OTC",
        source=Source.OTC,
        base_price=Decimal("100.00"),
        decimals=2,
        volatility_mode=VolatilityMode.MEDIUM,
        payout_percent=Decimal("85.50"),
        tie_rule=TieRule.REFUND,
        tick_interval_ms=tick_interval_ms,
    )


def write_ticks(market, rng: random.Random, first: int, last: int, *, start: datetime = T0) -> None:
    """Ticks first..last, one second apart; the market's last tick moves with them."""
    from apps.markets.generator import GeneratorSettings, PriceGenerator
    from apps.markets.models import Market, Tick

    generator = PriceGenerator(
        seed=rng.randrange(1 << 30),
        price=market.last_price or market.base_price,
        settings=GeneratorSettings(volatility_mode=market.volatility_mode, trend_bias=0.0, decimals=market.decimals),
    )
    ticks = [
        Tick(market=market, seq=seq, time=start + timedelta(seconds=seq), price=generator.next())
        for seq in range(first, last + 1)
    ]
    Tick.objects.bulk_create(ticks, batch_size=2000)
    market.last_seq, market.last_price, market.last_tick_at = last, ticks[-1].price, ticks[-1].time
    Market.objects.filter(pk=market.pk).update(
        last_seq=market.last_seq, last_price=market.last_price, last_tick_at=market.last_tick_at
    )


def build_accounts(n_users: int) -> list:
    """Users with a funded demo account each: rows in bulk, funds issued through the ledger."""
    from django.conf import settings

    from apps.accounts.models import AccountType, TradingAccount
    from apps.ledger.models import AccountKind, LedgerAccount, Realm, TransferKind
    from apps.ledger.services import TransferSpec, system_account, transfer_many
    from apps.users.models import User

    currency = settings.NEXUS["DEMO_CURRENCY"]
    users = User.objects.bulk_create(
        [User(email=f"trader{i}@bench.example", password="!") for i in range(n_users)], batch_size=2000
    )
    ledgers = LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(
                code=f"user:bench:{i}",
                name=f"{u.email} Demo account",
                kind=AccountKind.USER,
                realm=Realm.DEMO,
                currency=currency,
                owner=u,
            )
            for i, u in enumerate(users)
        ],
        batch_size=2000,
    )
    accounts = TradingAccount.objects.bulk_create(
        [
            TradingAccount(
                user=u,
                type=AccountType.DEMO,
                label="Demo account",
                currency=currency,
                ledger_account=la,
                is_selected=True,
            )
            for u, la in zip(users, ledgers, strict=True)
        ],
        batch_size=2000,
    )
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency=currency)
    amount = Decimal(settings.NEXUS["DEMO_BALANCE"])
    transfer_many(
        TransferSpec(world.pk, a.ledger_account_id, amount, TransferKind.ISSUE, f"demo-open:{a.pk}", f"account:{a.pk}")
        for a in accounts
    )
    return accounts


STAKES = [Decimal(s) for s in ("0.35", "1.00", "2.50", "5.00", "10.00", "25.00")]


def build_contracts(n: int, seed: int = SEED):
    """N open contracts bought during the market's history, then the ticks that make them all due."""
    from django.db import transaction

    from apps.ledger.models import AccountKind, Realm, TransferKind
    from apps.ledger.services import TransferSpec, system_account, transfer_many
    from apps.trading.models import Contract, Direction, DurationUnit
    from apps.trading.services import payout_for

    rng = random.Random(seed)
    with transaction.atomic():
        market = build_market()
        write_ticks(market, rng, 1, HISTORY_TICKS)
        accounts = build_accounts(max(1, n // 10))
        contracts = []
        for i in range(n):
            account = accounts[i % len(accounts)]
            stake = rng.choice(STAKES)
            purchase_seq = rng.randint(1, HISTORY_TICKS)
            purchased_at = T0 + timedelta(seconds=purchase_seq + rng.random() * 0.9)
            by_ticks = rng.random() < 0.75
            duration = rng.randint(1, 10) if by_ticks else rng.choice((1, 5))
            contracts.append(
                Contract(
                    user_id=account.user_id,
                    account=account,
                    market=market,
                    direction=rng.choice((Direction.RISE, Direction.FALL)),
                    stake=stake,
                    payout_percent=market.payout_percent,
                    payout=payout_for(stake=stake, payout_percent=market.payout_percent),
                    tie_rule=market.tie_rule,
                    duration=duration,
                    duration_unit=DurationUnit.TICKS if by_ticks else DurationUnit.MINUTES,
                    idempotency_key=f"bench-{i}",
                    purchased_at=purchased_at,
                    purchase_seq=purchase_seq,
                    expires_at=None if by_ticks else purchased_at + timedelta(minutes=duration),
                )
            )
        contracts = Contract.objects.bulk_create(contracts, batch_size=2000)
        escrow = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency=accounts[0].currency)
        transfer_many(
            TransferSpec(
                c.account.ledger_account_id,
                escrow.pk,
                c.stake,
                TransferKind.STAKE,
                f"contract:{c.pk}:stake",
                f"contract:{c.pk}",
            )
            for c in contracts
        )
        write_ticks(market, rng, HISTORY_TICKS + 1, HISTORY_TICKS + FUTURE_TICKS)
    return market


def build_winners(n: int, *, fees: bool, seed: int = SEED):
    """N open tick contracts that all win, bought as `contract_buy` would record them.

    With `fees`, each carries a 20% commission and, for the traders a partner brought (every
    other one, ten partners), a 10% markup: the rates and amounts purchase fixes on a contract.
    """
    from django.db import transaction

    from apps.ledger.models import AccountKind, Realm, TransferKind
    from apps.ledger.services import TransferSpec, system_account, transfer_many
    from apps.revenue.models import Partner
    from apps.revenue.services import NO_FEES, Rates
    from apps.trading.models import Contract, Direction, DurationUnit
    from apps.trading.services import payout_for
    from apps.users.models import User

    rng = random.Random(seed)
    with transaction.atomic():
        market = build_market()
        write_ticks(market, rng, 1, HISTORY_TICKS + FUTURE_TICKS)
        prices = dict(market.ticks.values_list("seq", "price"))
        accounts = build_accounts(max(1, n // 10))
        partners = []
        if fees:
            owners = User.objects.bulk_create(
                [User(email=f"partner{i}@bench.example", password="!") for i in range(10)]
            )
            partners = Partner.objects.bulk_create([Partner(user=u, code=f"bench{i}") for i, u in enumerate(owners)])
        contracts = []
        for i in range(n):
            account = accounts[i % len(accounts)]
            stake = rng.choice(STAKES)
            purchase_seq = rng.randint(1, HISTORY_TICKS)
            entry = prices[purchase_seq + 1]
            # The first duration whose exit differs from the entry; the direction that wins on it.
            duration = next(d for d in range(1, 11) if prices[purchase_seq + 1 + d] != entry)
            rises = prices[purchase_seq + 1 + duration] > entry
            payout = payout_for(stake=stake, payout_percent=market.payout_percent)
            rates = NO_FEES
            if fees:
                referred = (i % len(accounts)) % 2
                rates = Rates(Decimal("20.00"), Decimal("10.00") if referred else Decimal("0.00"), None)
                if referred:
                    rates = Rates(rates.commission_rate, rates.markup_rate, partners[i % 10].pk)
            commission, markup = rates.on_win(stake=stake, payout=payout)
            contracts.append(
                Contract(
                    user_id=account.user_id,
                    account=account,
                    market=market,
                    direction=Direction.RISE if rises else Direction.FALL,
                    stake=stake,
                    payout_percent=market.payout_percent,
                    payout=payout,
                    commission_rate=rates.commission_rate,
                    markup_rate=rates.markup_rate,
                    partner_id=rates.partner_id,
                    commission=commission,
                    markup=markup,
                    tie_rule=market.tie_rule,
                    duration=duration,
                    duration_unit=DurationUnit.TICKS,
                    idempotency_key=f"bench-{i}",
                    purchased_at=T0 + timedelta(seconds=purchase_seq + rng.random() * 0.9),
                    purchase_seq=purchase_seq,
                )
            )
        contracts = Contract.objects.bulk_create(contracts, batch_size=2000)
        escrow = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency=accounts[0].currency)
        transfer_many(
            TransferSpec(
                c.account.ledger_account_id,
                escrow.pk,
                c.stake,
                TransferKind.STAKE,
                f"contract:{c.pk}:stake",
                f"contract:{c.pk}",
            )
            for c in contracts
        )
    return market


# --- The naive path -----------------------------------------------------------


def settle_naively() -> int:
    """Settlement written one contract at a time: same rules, ledger keys and notices.

    Deliberately not a straw man: one transaction around the whole loop (as
    the real path), related rows joined in, system accounts looked up once.
    """
    from django.db import transaction
    from django.urls import reverse
    from django.utils import timezone

    from apps.ledger.models import AccountKind, TransferKind
    from apps.ledger.services import system_account, transfer
    from apps.markets.models import Tick
    from apps.notifications.models import Kind
    from apps.notifications.services import NewNotification, notifications_create
    from apps.trading.models import Contract, DurationUnit, Status
    from apps.trading.selectors import contracts_due
    from apps.trading.services import outcome

    notices = {
        Status.WON: (Kind.CONTRACT_WON, "Won"),
        Status.LOST: (Kind.CONTRACT_LOST, "Lost"),
        Status.TIE: (Kind.CONTRACT_REFUNDED, "Tie, stake refunded"),
        Status.VOID: (Kind.CONTRACT_REFUNDED, "Void, stake refunded"),
    }
    books: dict[tuple[str, str, str], object] = {}

    def book(kind, ledger_account):
        key = (kind, ledger_account.realm, ledger_account.currency)
        if key not in books:
            books[key] = system_account(kind=kind, realm=key[1], currency=key[2])
        return books[key]

    settled = 0
    with transaction.atomic():
        now = timezone.now()
        for pk in list(contracts_due(market_ids=None).order_by("id").values_list("id", flat=True)):
            contract = Contract.objects.select_related("account__ledger_account", "market").get(pk=pk)
            ticks = Tick.objects.filter(market_id=contract.market_id)
            entry = ticks.filter(seq=contract.purchase_seq + 1).first()
            if contract.duration_unit == DurationUnit.TICKS:
                exit_ = ticks.filter(seq=contract.exit_seq).first()
            else:
                exit_ = (
                    ticks.filter(seq__gt=contract.purchase_seq, time__lte=contract.expires_at).order_by("-seq").first()
                )
            status = outcome(
                direction=contract.direction,
                entry=entry.price if entry else None,
                exit=exit_.price if exit_ else None,
                tie_rule=contract.tie_rule,
            )
            contract.status = status
            contract.entry_spot, contract.entry_time = (entry.price, entry.time) if entry else (None, None)
            contract.exit_spot, contract.exit_time = (exit_.price, exit_.time) if exit_ else (None, None)
            contract.settled_at = now
            contract.amount_paid = {Status.WON: contract.payout, Status.LOST: Decimal("0.00")}.get(
                status, contract.stake
            )
            contract.save()

            user = contract.account.ledger_account
            escrow = book(AccountKind.ESCROW, user)
            ref = f"contract:{contract.pk}"
            if status == Status.LOST:
                transfer(
                    debit=escrow,
                    credit=book(AccountKind.HOUSE, user),
                    amount=contract.stake,
                    kind=TransferKind.LOSS,
                    idempotency_key=f"{ref}:loss",
                    reference=ref,
                )
            elif status == Status.WON:
                transfer(
                    debit=escrow,
                    credit=user,
                    amount=contract.stake,
                    kind=TransferKind.PAYOUT,
                    idempotency_key=f"{ref}:return",
                    reference=ref,
                )
                if contract.payout > contract.stake:
                    transfer(
                        debit=book(AccountKind.HOUSE, user),
                        credit=user,
                        amount=contract.payout - contract.stake,
                        kind=TransferKind.PAYOUT,
                        idempotency_key=f"{ref}:win",
                        reference=ref,
                    )
            else:
                transfer(
                    debit=escrow,
                    credit=user,
                    amount=contract.stake,
                    kind=TransferKind.REFUND,
                    idempotency_key=f"{ref}:refund",
                    reference=ref,
                )

            kind, verdict = notices[status]
            notifications_create(
                [
                    NewNotification(
                        user_id=contract.user_id,
                        kind=kind,
                        title=f"{verdict}: {contract.get_direction_display()} on {contract.market.name}",
                        body=f"Stake {contract.stake}, paid {contract.amount_paid}"
                        f" ({contract.amount_paid - contract.stake:+}).",
                        link=reverse("trading:contract", args=[contract.pk]),
                    )
                ]
            )
            settled += 1
    return settled


def settle_really() -> int:
    from apps.trading.services import contracts_settle

    return len(contracts_settle())


# --- Checks -------------------------------------------------------------------


class Breach(SystemExit):
    pass


def check_books(what: str) -> None:
    from apps.ledger.checks import ledger_breaches

    breaches = ledger_breaches()
    if breaches:
        print(f"\n!!! LEDGER BREACH after {what}:", *breaches[:20], sep="\n  ", file=sys.stderr)
        raise Breach(f"ledger invariants broken after {what}")


def fingerprint() -> tuple[str, dict[str, int]]:
    """A digest of every settled contract and every book, and the outcome counts.

    Settlement times and transfer ids differ between runs by nature and are
    left out; everything a trader or an auditor could see is in.
    """
    from django.db.models import Count

    from apps.ledger.models import LedgerAccount, Transfer
    from apps.notifications.models import Notification
    from apps.trading.models import Contract

    digest = hashlib.sha256()
    rows = Contract.objects.order_by("id").values_list(
        "id", "status", "amount_paid", "entry_spot", "entry_time", "exit_spot", "exit_time"
    )
    for row in rows.iterator(chunk_size=5000):
        digest.update(repr(row).encode())
    for row in LedgerAccount.objects.order_by("code").values_list("code", "balance"):
        digest.update(repr(row).encode())
    transfers = Transfer.objects.order_by("idempotency_key").values_list(
        "idempotency_key", "kind", "debit__code", "credit__code", "amount", "reference"
    )
    for row in transfers.iterator(chunk_size=5000):
        digest.update(repr(row).encode())
    # One notice per contract, of the right kind, to the right trader; the
    # wording is the notifications' business.
    notices = Notification.objects.order_by("link", "kind").values_list("user_id", "kind", "link")
    for row in notices.iterator(chunk_size=5000):
        digest.update(repr(row).encode())
    counts = dict(Contract.objects.values_list("status").annotate(n=Count("id")).order_by("status"))
    return digest.hexdigest(), counts


@contextmanager
def counting_queries():
    """Counts statements sent to the database (an executemany counts once)."""
    from django.db import connection

    counter = {"queries": 0}

    def wrapper(execute, sql, params, many, context):
        counter["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


@contextmanager
def profiling_statements():
    """Wall seconds and count per statement shape, the commit included, while the block runs.

    Times each statement's execute(). PostgreSQL (psycopg) has every row in
    hand when it returns; SQLite computes a SELECT's rows as they are fetched,
    so there a SELECT's figure is the time to its first row and the rest of it
    lands in "outside statements".
    """
    from django.db import connection

    spent: dict[str, list] = defaultdict(lambda: [0, 0.0])

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = spent[("executemany " if many else "") + _shape(sql)]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    commit = connection._commit

    def timed_commit():
        started = time.perf_counter()
        try:
            return commit()
        finally:
            spent["COMMIT"][0] += 1
            spent["COMMIT"][1] += time.perf_counter() - started

    connection._commit = timed_commit
    try:
        with connection.execute_wrapper(wrapper):
            yield spent
    finally:
        del connection._commit  # the class's own again


def _shape(sql: str) -> str:
    """A statement with its parameters and column lists folded, short enough for one line."""
    sql = re.sub(r"\s+", " ", sql).replace('"', "")
    sql = re.sub(r"(%s|\?)(, ?(%s|\?))+", "…", sql)
    sql = re.sub(r"\((…|%s|\?)\)(, \((…|%s|\?)\))+", "(…), …", sql)
    if sql.startswith("SELECT "):
        depth = 0
        for i, char in enumerate(sql):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and sql.startswith(" FROM ", i):
                sql = "SELECT … " + sql[i + 1 :]
                break
    return sql[:150]


def print_profile(title: str, spent: dict, seconds: float) -> None:
    total = sum(t for _, t in spent.values())
    print(f"\n{title}: {seconds:.3f} s wall, {total:.3f} s in {sum(n for n, _ in spent.values())} statements")
    print(f"{'s':>7} {'share':>6} {'count':>6}  statement")
    for shape, (count, t) in sorted(spent.items(), key=lambda item: -item[1][1])[:PROFILE_TOP]:
        print(f"{t:>7.3f} {t / seconds:>6.1%} {count:>6}  {shape}")
    print(f"{seconds - total:>7.3f} {(seconds - total) / seconds:>6.1%} {'':>6}  outside statements (Python)")


PROFILE_TOP = 10


def profile_settlement(databases, n: int) -> dict:
    """One more run of each shape (mixed outcomes; all wins with fees) with every statement timed."""
    result = {}
    for label, build in (("mixed", build_contracts), ("wins_with_fees", lambda n: build_winners(n, fees=True))):
        with fresh_database(databases, f"profile_{label}_{n}"):
            build(n)
            with profiling_statements() as spent:
                started = time.perf_counter()
                settle_really()
                seconds = time.perf_counter() - started
            check_books(f"the profiled run on {n} contracts")
        print_profile(f"Profile, {n:,} contracts, {label.replace('_', ' ')}", spent, seconds)
        result[label] = {"seconds": seconds, "spent": dict(spent)}
    return result


# --- Measurements -------------------------------------------------------------


@contextmanager
def stage_clock():
    """Time spent inside the services settlement hands its rows to.

    Each is timed around one call, including the generator of rows it
    consumes; whatever is left is selecting, deciding, updating the
    contracts and committing.
    """
    from apps.trading.services import settlement

    spent = {"ledger": 0.0, "notifications": 0.0}
    patched = {"ledger": "transfer_many", "notifications": "notifications_create"}
    originals = {stage: getattr(settlement, name, None) for stage, name in patched.items()}

    def clocked(stage, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - started

        return call

    for stage, name in patched.items():
        if originals[stage] is not None:
            setattr(settlement, name, clocked(stage, originals[stage]))
    try:
        yield spent
    finally:
        for stage, name in patched.items():
            if originals[stage] is not None:
                setattr(settlement, name, originals[stage])


def measure_settlement(databases, n: int, path: str, run: int) -> dict:
    settle = settle_really if path == "real" else settle_naively
    with fresh_database(databases, f"{path}_{n}_{run}"):
        build_contracts(n)
        with counting_queries() as counter, stage_clock() as stages:
            started, cpu = time.perf_counter(), time.process_time()
            settled = settle()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if settled != n:
            raise Breach(f"{path} path settled {settled} of {n} due contracts")
        check_books(f"the {path} path on {n} contracts")
        digest, counts = fingerprint()
    stages["rest"] = seconds - stages["ledger"] - stages["notifications"]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "stages": stages,
        "queries": counter["queries"],
        "digest": digest,
        "counts": counts,
    }


def measure_fees(databases, n: int, repeat: int) -> dict:
    """Settling N winning contracts with commission and markup, and the same without: median seconds of each."""
    from apps.ledger.models import Transfer, TransferKind

    runs: dict[bool, list[dict]] = {True: [], False: []}
    for run in range(repeat):
        for fees in (False, True):  # interleaved, so drift on the machine touches both alike
            with fresh_database(databases, f"wins_{'fees' if fees else 'plain'}_{n}_{run}"):
                build_winners(n, fees=fees)
                with counting_queries() as counter, stage_clock() as stages:
                    started, cpu = time.perf_counter(), time.process_time()
                    settled = settle_really()
                    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                if settled != n:
                    raise Breach(f"settled {settled} of {n} winning contracts")
                check_books(f"{n} winning contracts{' with fees' if fees else ''}")
                charged = Transfer.objects.filter(kind__in=[TransferKind.COMMISSION, TransferKind.MARKUP]).count()
                if fees != bool(charged):
                    raise Breach("fees charged where none were due, or none where they were")
                runs[fees].append(
                    {
                        "seconds": seconds,
                        "cpu": cpu,
                        "ledger": stages["ledger"],
                        "queries": counter["queries"],
                        "transfers": Transfer.objects.exclude(kind=TransferKind.STAKE).count(),
                    }
                )
    median = {fees: sorted(r, key=lambda x: x["seconds"])[len(r) // 2] for fees, r in runs.items()}
    return {"fees": median[True], "plain": median[False]}


def measure_buys(databases, buys: int) -> dict:
    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import TradingAccount
    from apps.trading.models import Direction, DurationUnit
    from apps.trading.services import contract_buy

    rng = random.Random(SEED)
    with fresh_database(databases, "buys"):
        # A slow market stays fresh for minutes, long enough for every buy.
        with transaction.atomic():
            market = build_market(tick_interval_ms=60_000)
            write_ticks(market, rng, 1, 10, start=timezone.now() - timedelta(seconds=10))
            build_accounts(max(1, buys // 10))
        accounts = list(TradingAccount.objects.select_related("user", "ledger_account").order_by("id"))
        orders = [(accounts[i % len(accounts)], rng.choice((Direction.RISE, Direction.FALL))) for i in range(buys)]
        with counting_queries() as counter:
            started = time.perf_counter()
            for i, (account, direction) in enumerate(orders):
                contract_buy(
                    user=account.user,
                    account=account,
                    market=market,
                    direction=direction,
                    stake=Decimal("1.00"),
                    duration=5,
                    duration_unit=DurationUnit.TICKS,
                    idempotency_key=f"buy-{i}",
                )
            seconds = time.perf_counter() - started
        check_books(f"{buys} purchases")
    return {"seconds": seconds, "queries": counter["queries"]}


def _size(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_backend(databases, sizes: list[int], repeat: int, buys: int, profile: bool = False) -> dict:
    databases.prepare()
    try:
        _use(str(databases.template))
        version = databases.version()
        _close()
        print(f"\nSettlement — {version}")
        print(
            f"{'contracts':>10} {'real s':>8} {'cpu s':>7} {'real c/s':>9} {'queries':>8}"
            f" {'naive s':>8} {'cpu s':>7} {'naive c/s':>9} {'queries':>8} {'real vs naive':>14}"
        )
        prefix = databases.label
        figures: dict[str, float | int] = {}
        breakdowns = []
        for n in sizes:
            real_runs = [measure_settlement(databases, n, "real", run) for run in range(repeat)]
            naive = measure_settlement(databases, n, "naive", 0)
            for result in real_runs:
                if result["digest"] != naive["digest"]:
                    raise Breach(
                        f"the real and naive paths disagree on {n} contracts: {result['counts']} vs {naive['counts']}"
                    )
            real = sorted(real_runs, key=lambda r: r["seconds"])[len(real_runs) // 2]  # the median run
            ratio = naive["seconds"] / real["seconds"]
            print(
                f"{n:>10,} {real['seconds']:>8.3f} {real['cpu']:>7.3f} {n / real['seconds']:>9,.0f}"
                f" {real['queries']:>8,} {naive['seconds']:>8.3f} {naive['cpu']:>7.3f}"
                f" {n / naive['seconds']:>9,.0f} {naive['queries']:>8,} {ratio:>13.1f}×"
            )
            size = _size(n)
            breakdowns.append((n, real["stages"]))
            figures.update(
                {
                    f"{prefix}_settle_{size}_s": round(real["seconds"], 4),
                    f"{prefix}_settle_{size}_cpu_s": round(real["cpu"], 4),
                    f"{prefix}_settle_{size}_contracts_per_s": round(n / real["seconds"]),
                    f"{prefix}_settle_{size}_queries": real["queries"],
                    **{f"{prefix}_settle_{size}_{stage}_s": round(t, 4) for stage, t in real["stages"].items()},
                    f"{prefix}_naive_{size}_s": round(naive["seconds"], 4),
                    f"{prefix}_naive_{size}_cpu_s": round(naive["cpu"], 4),
                    f"{prefix}_naive_{size}_contracts_per_s": round(n / naive["seconds"]),
                    f"{prefix}_naive_{size}_queries": naive["queries"],
                    f"{prefix}_ratio_vs_naive_{size}": round(ratio, 1),
                }
            )
        outcomes = ", ".join(f"{status} {count:,}" for status, count in naive["counts"].items())
        print(f"{'':>10} outcomes of the last run (identical on both paths): {outcomes}")
        print("\nWhere the real path's time goes (median run, seconds):")
        print(f"{'contracts':>10} {'ledger':>8} {'notices':>8} {'rest':>8}")
        for n, stages in breakdowns:
            print(f"{n:>10,} {stages['ledger']:>8.3f} {stages['notifications']:>8.3f} {stages['rest']:>8.3f}")
        print(
            f"{'':>10} ledger: transfer_many and the transfers it is given; notices: notifications_create"
            " and the notices it is given;\n"
            f"{'':>10} rest: selecting due contracts, deciding, updating them, committing."
        )
        wins = max(sizes)
        measured = measure_fees(databases, wins, repeat)
        with_fees, plain = measured["fees"], measured["plain"]
        overhead = with_fees["seconds"] / plain["seconds"] - 1
        print(f"\nCommission and markup: {wins:,} winning contracts (median of {repeat})")
        print(f"{'':>12} {'s':>8} {'cpu s':>7} {'ledger s':>9} {'transfers':>10} {'queries':>8}")
        for label, row in (("without fees", plain), ("with fees", with_fees)):
            print(
                f"{label:>12} {row['seconds']:>8.3f} {row['cpu']:>7.3f} {row['ledger']:>9.3f}"
                f" {row['transfers']:>10,} {row['queries']:>8,}"
            )
        print(f"{'':>12} with fees: {overhead:+.1%} against the same run without")
        size = _size(wins)
        figures.update(
            {
                f"{prefix}_settle_{size}_wins_with_fees_s": round(with_fees["seconds"], 4),
                f"{prefix}_settle_{size}_wins_with_fees_cpu_s": round(with_fees["cpu"], 4),
                f"{prefix}_settle_{size}_wins_without_fees_s": round(plain["seconds"], 4),
                f"{prefix}_settle_{size}_wins_without_fees_cpu_s": round(plain["cpu"], 4),
                f"{prefix}_fees_overhead_pct": round(overhead * 100, 1),
            }
        )
        if profile:
            profile_settlement(databases, wins)
        if buys:
            bought = measure_buys(databases, buys)
            per_s = buys / bought["seconds"]
            print(
                f"\nPurchases through contract_buy: {buys:,} in {bought['seconds']:.3f} s,"
                f" {per_s:,.0f} ledger transfers/s ({bought['queries'] / buys:.1f} queries per buy)"
            )
            figures.update(
                {
                    f"{prefix}_buy_count": buys,
                    f"{prefix}_buy_s": round(bought["seconds"], 4),
                    f"{prefix}_buy_transfers_per_s": round(per_s),
                }
            )
        return figures
    finally:
        _close()
        databases.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="contract counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the real path per size (median)")
    parser.add_argument("--buys", type=int, default=2000, help="single purchases to time (0 skips)")
    parser.add_argument(
        "--profile", action="store_true", help="also time every statement of one more run per shape (largest size)"
    )
    parser.add_argument("--postgres-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    outer_url = os.environ.get("DATABASE_URL", "")
    postgres_url = outer_url if outer_url.startswith(("postgres://", "postgresql://", "pgsql://")) else ""

    if args.postgres_only:
        # Child process: Django set up once against the PostgreSQL server.
        _configure(postgres_url)
        logging.getLogger("apps").setLevel(logging.WARNING)
        figures = run_backend(PostgresDatabases(postgres_url), sizes, args.repeat, args.buys, args.profile)
        print(json.dumps(figures))
        return

    directory = tempfile.mkdtemp(prefix="nexus-bench-")
    try:
        _configure(f"sqlite:///{directory}/template.sqlite3")
        logging.getLogger("apps").setLevel(logging.WARNING)
        figures = run_backend(SqliteDatabases(directory), sizes, args.repeat, args.buys, args.profile)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    if postgres_url:
        # A separate process, so each backend gets Django configured once and cleanly.
        child = subprocess.run(
            [sys.executable, __file__, "--postgres-only", *sys.argv[1:]],
            env={**os.environ, "DATABASE_URL": postgres_url},  # this process pointed it at SQLite
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        lines = child.stdout.rstrip("\n").splitlines()
        print("\n".join(lines[:-1]))
        if child.returncode != 0 or not lines:
            raise SystemExit(f"the PostgreSQL run failed (exit {child.returncode})")
        figures.update(json.loads(lines[-1]))

    print(json.dumps(figures))


if __name__ == "__main__":
    main()
