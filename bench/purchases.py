"""Purchase benchmark: concurrent buyers through `contract_buy`, against the purchase path as it was before.

    .venv/bin/python bench/purchases.py [--buyers 8] [--buys 250] [--repeat 3]

Runs on a fresh SQLite database in a temporary directory. If DATABASE_URL
points at PostgreSQL, the same measurements also run there, in databases this
script creates and drops (the role needs CREATEDB).

Each run builds one OTC market (fresh for the whole run) and one funded demo
trader per buyer, then forks --buyers processes; each buys --buys contracts
on its own trader's account, one after the other, through

  real   apps.trading.services.contract_buy, after-commit work included
         (the receivers of `contracts_bought`: the trader's live pages told,
         the low-balance check, the venue hand-over)
  naive  the purchase as it was before (written out below): an idempotency
         look-up, the market, limits and rates read inside the transaction,
         the escrow looked up, a savepointed ledger transfer with its own
         idempotency look-up, the audit record, and after commit one worker
         task per purchase to push the trader's state

on identical data. Every run must leave `ledger_breaches()` empty, one
contract, one stake transfer and one audit record per buy; anything else
aborts. Worker tasks are queued in the throwaway database (no Redis), as
`bench/settlement.py` does.

Contracts/s is all buys over the wall-clock time from the moment every buyer
is ready to the last one done; latency is per buy, as each buyer saw it.
CPU seconds are the buyers' processes' (the database server's are not
counted on PostgreSQL), which helps read the figures on a busy machine. The
figures are the median of --repeat runs of each path, the paths interleaved.
Nothing here asserts on time. The last line printed is one JSON object with
every figure.
"""

import argparse
import json
import logging
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settlement import (  # noqa: E402  (bench/ is on the path: the shared helpers of the settlement benchmark)
    SEED,
    Breach,
    PostgresDatabases,
    SqliteDatabases,
    _close,
    _configure,
    _use,
    build_accounts,
    build_market,
    check_books,
    counting_queries,
    fresh_database,
    write_ticks,
)

STAKE = Decimal("1.00")


# --- The purchase as it was before ----------------------------------------------


def naive_buy(*, user, account, market, direction, stake, duration, duration_unit, idempotency_key):
    """`contract_buy` as it was: every read inside the transaction, one push task per purchase after commit."""
    from django.db import IntegrityError, transaction
    from django.db.models import Q
    from django_q.tasks import async_task

    from apps.notifications.models import NotificationPreferences
    from apps.trading.models import Contract, Status

    def bought_after_commit(contract_id: int, user_id: int) -> None:
        # What the receivers of `contracts_bought` did for one purchase.
        watched = list(
            NotificationPreferences.objects.filter(user_id__in=[user_id], low_balance_threshold__isnull=False)
            .values_list("user_id", flat=True)
            .distinct()
        )
        if watched:
            async_task("apps.notifications.tasks.low_balance_check", watched, group="email")
        pending = Contract.objects.filter(
            Q(pk__in=[contract_id]), at_deriv=True, status=Status.PENDING, deriv_sent_at=None
        ).values_list("pk", flat=True)
        assert not list(pending)
        async_task("apps.realtime.tasks.push_user_state", [user_id], group="push")

    try:
        contract, bought = _naive_buy_atomic(
            user=user,
            account=account,
            market=market,
            direction=direction,
            stake=stake,
            duration=duration,
            duration_unit=duration_unit,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        contract, bought = Contract.objects.get(user=user, idempotency_key=idempotency_key), False
    if bought:
        transaction.on_commit(lambda: bought_after_commit(contract.pk, user.pk), robust=True)
    return contract


def _naive_buy_atomic(*, user, account, market, direction, stake, duration, duration_unit, idempotency_key):
    from django.core.exceptions import ValidationError
    from django.db import transaction
    from django.utils import timezone

    from apps.audit.models import AuditEvent
    from apps.ledger.models import AccountKind, Entry, LedgerAccount, Transfer, TransferKind
    from apps.ledger.services import system_account
    from apps.markets.models import Market
    from apps.revenue.services import rates_in_force
    from apps.trading.limits import trading_refusal
    from apps.trading.models import Contract, DurationUnit, Status
    from apps.trading.services.purchase import _validate_order, payout_for

    with transaction.atomic():
        existing = Contract.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
        market = Market.objects.get(pk=market.pk)
        _validate_order(account=account, market=market, stake=stake, duration=duration, duration_unit=duration_unit)
        if refusal := trading_refusal(user=user, stake=stake):
            raise refusal
        now = timezone.now()
        payout = payout_for(stake=stake, payout_percent=market.payout_percent)
        ledger = account.ledger_account
        rates = rates_in_force(user_ids={account.user_id}, realm=ledger.realm, source=market.source)[account.user_id]
        commission, markup = rates.on_win(stake=stake, payout=payout)
        contract = Contract.objects.create(
            at_deriv=False,
            status=Status.OPEN,
            user=user,
            account=account,
            market=market,
            direction=direction,
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
            duration_unit=duration_unit,
            idempotency_key=idempotency_key,
            purchased_at=now,
            purchase_seq=market.last_seq,
            expires_at=now + timedelta(minutes=duration) if duration_unit == DurationUnit.MINUTES else None,
        )
        escrow = system_account(kind=AccountKind.ESCROW, realm=ledger.realm, currency=account.currency)
        # The ledger transfer as it was: its own savepoint and idempotency look-up, ORM writes.
        with transaction.atomic():
            key = f"contract:{contract.pk}:stake"
            if Transfer.objects.filter(idempotency_key=key).first() is not None:
                raise AssertionError("a fresh contract's stake was already moved")
            from django.db.models import F
            from django.db.models.functions import Round

            debited = LedgerAccount.objects.filter(pk=ledger.pk, balance__gte=stake)
            credited = LedgerAccount.objects.filter(pk=escrow.pk)
            if escrow.pk < ledger.pk:
                credited.update(balance=Round(F("balance") + stake, 2))
            if debited.update(balance=Round(F("balance") - stake, 2)) != 1:
                raise ValidationError({"stake": "Your balance does not cover this stake."})
            if escrow.pk > ledger.pk:
                credited.update(balance=Round(F("balance") + stake, 2))
            created = Transfer.objects.create(
                idempotency_key=key,
                kind=TransferKind.STAKE,
                debit=ledger,
                credit=escrow,
                amount=stake,
                currency=account.currency,
                reference=f"contract:{contract.pk}",
            )
            Entry.objects.bulk_create(
                [
                    Entry(transfer=created, account_id=ledger.pk, amount=-stake),
                    Entry(transfer=created, account_id=escrow.pk, amount=stake),
                ]
            )
        AuditEvent.objects.create(
            actor=user,
            action="contract.buy",
            target_type=contract._meta.label_lower,
            target_id=str(contract.pk),
            target_repr=str(contract)[:200],
            ip=None,
            data={
                "market": market.symbol,
                "direction": direction,
                "stake": str(stake),
                "duration": f"{duration}{duration_unit}",
            },
        )
    return contract, True


# --- One buyer ----------------------------------------------------------------


def buyer(path: str, account_id: int, market_id: int, buys: int, ready, results) -> None:
    """A forked process: `buys` purchases on one trader's account, timed one by one."""
    from django.db import connection

    from apps.accounts.models import TradingAccount
    from apps.markets.models import Market
    from apps.trading.models import Direction, DurationUnit
    from apps.trading.services import contract_buy

    buy = contract_buy if path == "real" else naive_buy
    account = TradingAccount.objects.select_related("user", "ledger_account").get(pk=account_id)
    market = Market.objects.get(pk=market_id)
    rng = random.Random(SEED + account_id)
    latencies = []
    connection.ensure_connection()
    cpu = time.process_time()
    ready.wait()
    with counting_queries() as counter:
        for i in range(buys):
            started = time.perf_counter()
            buy(
                user=account.user,
                account=account,
                market=market,
                direction=rng.choice((Direction.RISE, Direction.FALL)),
                stake=STAKE,
                duration=5,
                duration_unit=DurationUnit.TICKS,
                idempotency_key=f"buy-{account_id}-{i}",
            )
            latencies.append(time.perf_counter() - started)
    results.put({"latencies": latencies, "queries": counter["queries"], "cpu": time.process_time() - cpu})
    connection.close()


def measure(databases, path: str, buyers: int, buys: int, run: int) -> dict:
    from django.db import connections, transaction
    from django.utils import timezone

    from apps.audit.models import AuditEvent
    from apps.ledger.models import AccountKind, Realm, Transfer, TransferKind
    from apps.ledger.services import system_account
    from apps.trading.models import Contract

    rng = random.Random(SEED)
    with fresh_database(databases, f"{path}_{run}"):
        # A slow market stays fresh for minutes, long enough for every buy.
        with transaction.atomic():
            market = build_market(tick_interval_ms=60_000)
            write_ticks(market, rng, 1, 10, start=timezone.now() - timedelta(seconds=10))
            accounts = build_accounts(buyers)
            system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency=accounts[0].currency)
        connections.close_all()  # each forked buyer opens its own connection
        context = multiprocessing.get_context("fork")
        ready, results = context.Barrier(buyers + 1), context.Queue()
        processes = [
            context.Process(target=buyer, args=(path, a.pk, market.pk, buys, ready, results)) for a in accounts
        ]
        for process in processes:
            process.start()
        ready.wait()
        started = time.perf_counter()
        reports = [results.get() for _ in processes]
        seconds = time.perf_counter() - started
        for process in processes:
            process.join()
            if process.exitcode != 0:
                raise Breach(f"a {path} buyer failed (exit {process.exitcode})")
        total = buyers * buys
        check_books(f"{total} {path} purchases")
        contracts = Contract.objects.count()
        stakes = Transfer.objects.filter(kind=TransferKind.STAKE).count()
        audits = AuditEvent.objects.filter(action="contract.buy").count()
        if not contracts == stakes == audits == total:
            raise Breach(f"{path}: {contracts} contracts, {stakes} stake transfers, {audits} audit records for {total}")
    latencies = sorted(t for r in reports for t in r["latencies"])
    return {
        "seconds": seconds,
        "cpu": sum(r["cpu"] for r in reports),
        "per_s": total / seconds,
        "queries": sum(r["queries"] for r in reports) / total,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def run_backend(databases, buyers: int, buys: int, repeat: int) -> dict:
    databases.prepare()
    try:
        _use(str(databases.template))
        version = databases.version()
        _close()
        runs: dict[str, list[dict]] = {"real": [], "naive": []}
        for run in range(repeat):
            for path in ("naive", "real"):  # interleaved, so drift on the machine touches both alike
                runs[path].append(measure(databases, path, buyers, buys, run))
        median = {path: sorted(r, key=lambda x: x["per_s"])[len(r) // 2] for path, r in runs.items()}
        ratio = median["real"]["per_s"] / median["naive"]["per_s"]
        total = buyers * buys
        print(f"\nPurchases — {version}: {buyers} buyers x {buys} buys ({total:,}), median of {repeat}")
        print(f"{'':>6} {'c/s':>7} {'wall s':>7} {'cpu s':>7} {'q/buy':>6} {'p50 ms':>7} {'p99 ms':>7}")
        for path in ("real", "naive"):
            m = median[path]
            print(
                f"{path:>6} {m['per_s']:>7,.0f} {m['seconds']:>7.3f} {m['cpu']:>7.3f} {m['queries']:>6.1f}"
                f" {m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f}"
            )
        print(f"{'':>6} real vs naive: {ratio:.1f}×")
        prefix = databases.label
        figures: dict[str, float | int] = {f"{prefix}_buyers": buyers, f"{prefix}_buys": total}
        for path in ("real", "naive"):
            m = median[path]
            figures |= {
                f"{prefix}_{path}_contracts_per_s": round(m["per_s"]),
                f"{prefix}_{path}_wall_s": round(m["seconds"], 4),
                f"{prefix}_{path}_cpu_s": round(m["cpu"], 4),
                f"{prefix}_{path}_queries_per_buy": round(m["queries"], 2),
                f"{prefix}_{path}_p50_ms": round(m["p50_ms"], 3),
                f"{prefix}_{path}_p99_ms": round(m["p99_ms"], 3),
            }
        figures[f"{prefix}_ratio_vs_naive"] = round(ratio, 2)
        return figures
    finally:
        _close()
        databases.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=8, help="concurrent buyers, one process and trader each")
    parser.add_argument("--buys", type=int, default=250, help="purchases per buyer")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path (median)")
    parser.add_argument("--postgres-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    outer_url = os.environ.get("DATABASE_URL", "")
    postgres_url = outer_url if outer_url.startswith(("postgres://", "postgresql://", "pgsql://")) else ""

    if args.postgres_only:
        # Child process: Django set up once against the PostgreSQL server.
        _configure(postgres_url)
        logging.getLogger("apps").setLevel(logging.WARNING)
        figures = run_backend(PostgresDatabases(postgres_url), args.buyers, args.buys, args.repeat)
        print(json.dumps(figures))
        return

    directory = tempfile.mkdtemp(prefix="nexus-bench-")
    try:
        _configure(f"sqlite:///{directory}/template.sqlite3")
        logging.getLogger("apps").setLevel(logging.WARNING)
        figures = run_backend(SqliteDatabases(directory), args.buyers, args.buys, args.repeat)
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
