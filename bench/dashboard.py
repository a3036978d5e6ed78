"""Dashboard benchmark: the signed-in home of a trader with a long history, against per-contract aggregation.

    .venv/bin/python bench/dashboard.py [--contracts 100000] [--loads 50] [--naive-loads 5] [--days 365]

Runs on a fresh SQLite database in a temporary directory. If DATABASE_URL
points at PostgreSQL, the same measurements also run there, in databases this
script creates and drops (the role needs CREATEDB). See bench/settlement.py.

One trader with --contracts settled contracts spread over the last --days
days on five OTC markets (won, lost, tie, void; a fifth of the wins with
commission), plus a few open ones: rows written in bulk, every stake and
payout moved through the real ledger with `transfer_many`, each transfer and
its entries dated when its contract settled (the equity curve reads them by
day). `ledger_breaches()` must be empty afterwards. Then, signed in through
Django's test Client, it times GET / (the dashboard, its default 30-day range,
and the whole history with `?range=all`):

  real   the dashboard as it ships: every figure aggregated by the database
         (apps/dashboard/selectors.py), a fixed number of queries
  naive  the same page with its figures computed in Python: every contract of
         the account loaded and summed one by one (and every ledger entry of
         the account for the equity curve)

on the same data, in the same run. Both must give the same figures; anything
else aborts. Prints p50 / p95 milliseconds and queries per load, the ratio,
and where the real page's time goes (SQL by statement, and the rest:
templates, middleware). Nothing here asserts on time. The last line printed
is one JSON object with every figure.
"""

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settlement import (  # noqa: E402 - the path above makes the sibling importable
    STAKES,
    Breach,
    PostgresDatabases,
    SqliteDatabases,
    _close,
    _configure,
    _use,
    build_accounts,
    check_books,
    fresh_database,
)

SEED = 20261206
MARKETS = 5
OPEN_CONTRACTS = 25
FUNDS = Decimal("5000000.00")  # a top-up on the trader's account: no stake is ever refused for want of money


# --- Data -------------------------------------------------------------------


def build_markets(now) -> list:
    """Five fresh OTC markets, each with a last price and 25 hourly candles (the market overview's sparkline)."""
    from apps.markets.models import Candle, Market, Source, Timeframe

    markets = [
        Market.objects.create(
            symbol=f"BENCH_{i}",
            name=f"Bench {i}",
            source=Source.OTC,
            base_price=Decimal("100.00"),
            decimals=2,
            payout_percent=Decimal("85.00"),
        )
        for i in range(MARKETS)
    ]
    hour = now.replace(minute=0, second=0, microsecond=0)
    candles = []
    for market in markets:
        price = Decimal("100.00")
        for h in range(25, 0, -1):
            close = price + Decimal(random.Random(h * 7 + market.pk).randint(-50, 50)) / 100
            candles.append(
                Candle(
                    market=market,
                    timeframe=Timeframe.H1,
                    start=hour - timedelta(hours=h),
                    open=price,
                    high=max(price, close),
                    low=min(price, close),
                    close=close,
                    tick_count=3600,
                )
            )
            price = close
        Market.objects.filter(pk=market.pk).update(last_price=price, last_tick_at=now, last_seq=100)
    Candle.objects.bulk_create(candles)
    return markets


def build_history(n: int, days: int):
    """One trader, N settled contracts over `days` days and a few open ones, ledger-consistent; returns the account."""
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.ledger.models import AccountKind, Realm, TransferKind
    from apps.ledger.services import TransferSpec, system_account, transfer_many
    from apps.trading.models import Contract, Direction, DurationUnit, Status
    from apps.trading.services import payout_for

    rng = random.Random(SEED)
    now = timezone.now()
    with transaction.atomic():
        markets = build_markets(now)
        (account,) = build_accounts(1)
        currency = account.currency
        world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency=currency)
        escrow = system_account(kind=AccountKind.ESCROW, realm=Realm.DEMO, currency=currency).pk
        house = system_account(kind=AccountKind.HOUSE, realm=Realm.DEMO, currency=currency).pk
        revenue = system_account(kind=AccountKind.REVENUE, realm=Realm.DEMO, currency=currency).pk
        user = account.ledger_account_id
        top_up = TransferSpec(world.pk, user, FUNDS, TransferKind.ISSUE, "bench-top-up", f"account:{account.pk}")
        transfer_many([top_up])

        contracts = []
        for i in range(n + OPEN_CONTRACTS):
            market = markets[rng.randrange(MARKETS)]
            stake = rng.choice(STAKES)
            payout = payout_for(stake=stake, payout_percent=market.payout_percent)
            is_open = i >= n
            settled_at = now - timedelta(seconds=rng.uniform(60, days * 86400))
            roll = rng.random()
            status = (
                Status.OPEN
                if is_open
                else Status.WON
                if roll < 0.47
                else Status.LOST
                if roll < 0.96
                else Status.TIE
                if roll < 0.99
                else Status.VOID
            )
            commission = (
                ((payout - stake) * Decimal("0.20")).quantize(Decimal("0.01"))
                if status == Status.WON and rng.random() < 0.2
                else Decimal("0.00")
            )
            paid = {Status.OPEN: None, Status.WON: payout - commission, Status.LOST: Decimal("0.00")}.get(status, stake)
            contracts.append(
                Contract(
                    user_id=account.user_id,
                    account=account,
                    market=market,
                    direction=rng.choice((Direction.RISE, Direction.FALL)),
                    stake=stake,
                    payout_percent=market.payout_percent,
                    payout=payout,
                    tie_rule=market.tie_rule,
                    duration=5,
                    duration_unit=DurationUnit.TICKS,
                    idempotency_key=f"bench-{i}",
                    purchased_at=(now if is_open else settled_at) - timedelta(seconds=6),
                    purchase_seq=1,
                    status=status,
                    settled_at=None if is_open else settled_at,
                    entry_spot=None if is_open else Decimal("100.00"),
                    exit_spot=None if is_open else Decimal("100.50"),
                    amount_paid=paid,
                    commission_rate=Decimal("20.00") if commission else Decimal("0.00"),
                    commission=commission,
                )
            )
        contracts = Contract.objects.bulk_create(contracts, batch_size=2000)

        def specs():
            for c in contracts:
                key = ref = f"contract:{c.pk}"
                yield TransferSpec(user, escrow, c.stake, TransferKind.STAKE, f"{key}:stake", ref)
                if c.status == Status.LOST:
                    yield TransferSpec(escrow, house, c.stake, TransferKind.LOSS, f"{key}:loss", ref)
                elif c.status == Status.WON:
                    yield TransferSpec(escrow, user, c.stake, TransferKind.PAYOUT, f"{key}:return", ref)
                    yield TransferSpec(house, user, c.payout - c.stake, TransferKind.PAYOUT, f"{key}:win", ref)
                    if c.commission:
                        fee = TransferKind.COMMISSION
                        yield TransferSpec(user, revenue, c.commission, fee, f"{key}:commission", ref)
                elif c.status in (Status.TIE, Status.VOID):
                    yield TransferSpec(escrow, user, c.stake, TransferKind.REFUND, f"{key}:refund", ref)

        transfer_many(specs(), return_transfers=False)

        # Each contract's transfers (and their entries) dated when it settled; the account's funds a year before.
        number = "CAST(substr(reference, 10) AS INTEGER)"
        if connection.vendor == "postgresql":
            number = "CAST(substring(reference from 10) AS bigint)"
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ledger_transfer SET created_at = (SELECT COALESCE(c.settled_at, c.purchased_at)"
                f" FROM trading_contract c WHERE c.id = {number}) WHERE reference LIKE 'contract:%%'"
            )
            cursor.execute(
                "UPDATE ledger_transfer SET created_at = %s WHERE reference = %s",
                [now - timedelta(days=days + 1), f"account:{account.pk}"],
            )
            cursor.execute(
                "UPDATE ledger_entry SET created_at = (SELECT t.created_at FROM ledger_transfer t"
                " WHERE t.id = ledger_entry.transfer_id)"
            )
            cursor.execute("UPDATE accounts_tradingaccount SET created_at = %s", [now - timedelta(days=days + 1)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner's statistics, as a database that has lived would have them
    account.refresh_from_db()
    return account


# --- The naive figures ----------------------------------------------------------


class Naive:
    """The dashboard's figures summed in Python, one contract (and one ledger entry) at a time.

    Each page load reads the account's contracts once (`reset` before a load)
    and every figure walks them: what a first version without aggregation
    in the database would do.
    """

    def __init__(self):
        self.contracts = None

    def reset(self):
        self.contracts = None

    def _contracts(self, account):
        from apps.trading.models import Contract

        if self.contracts is None:
            self.contracts = list(Contract.objects.filter(account=account).select_related("market"))
        return self.contracts

    def cards(self, *, account):
        from django.utils import timezone

        from apps.bots.models import Bot, BotStatus
        from apps.dashboard.selectors import SETTLED, Cards, _cents, local_day_start
        from apps.trading.models import HELD, Status

        today = timezone.localdate()
        day_start, month_start = local_day_start(today), local_day_start(today - timedelta(days=29))
        today_net = month_net = Decimal("0")
        trades = wins = losses = opened = 0
        for c in self._contracts(account):
            if c.status in HELD:
                opened += 1
            elif c.status in SETTLED and c.settled_at >= month_start:
                month_net += c.profit
                trades += 1
                wins += c.status == Status.WON
                losses += c.status == Status.LOST
                if c.settled_at >= day_start:
                    today_net += c.profit
        return Cards(
            balance=account.balance,
            currency=account.currency,
            today_net=_cents(today_net),
            month_net=_cents(month_net),
            month_trades=trades,
            wins=wins,
            losses=losses,
            open=opened,
            bots_running=Bot.objects.filter(account=account, status=BotStatus.RUNNING).count(),
        )

    def chart_data(self, *, account, key):
        from django.utils import timezone

        from apps.dashboard.selectors import SETTLED, _cents, local_day_start, range_start
        from apps.ledger.models import Entry

        today = timezone.localdate()
        start = range_start(account=account, key=key, today=today)
        days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
        net, trades = defaultdict(Decimal), defaultdict(int)
        for c in self._contracts(account):
            if c.status in SETTLED:
                day = timezone.localdate(c.settled_at)
                if day >= start:
                    net[day] += c.profit
                    trades[day] += 1
        moved = defaultdict(Decimal)
        for entry in Entry.objects.filter(account_id=account.ledger_account_id, created_at__gte=local_day_start(start)):
            moved[timezone.localdate(entry.created_at)] += entry.amount
        balance, equity = account.balance, []
        for day in reversed(days):
            equity.append({"time": day.isoformat(), "value": str(balance)})
            balance -= _cents(moved[day])
        equity.reverse()
        return {
            "currency": account.currency,
            "equity": equity,
            "daily": [{"time": d.isoformat(), "value": str(_cents(net[d])), "trades": trades[d]} for d in days],
        }

    def results_by_market(self, *, account, key, limit=20):
        from django.utils import timezone

        from apps.dashboard.selectors import SETTLED, MarketResult, _cents, local_day_start, range_start
        from apps.trading.models import Status

        start = local_day_start(range_start(account=account, key=key, today=timezone.localdate()))
        rows = {}
        for c in self._contracts(account):
            if c.status not in SETTLED or c.settled_at < start:
                continue
            row = rows.setdefault(c.market_id, {"name": c.market.name, "symbol": c.market.symbol, "n": [0, 0, 0, 0]})
            row["n"][0] += 1
            row["n"][1] += c.status == Status.WON
            row["n"][2] += c.status == Status.LOST
            row["n"][3] += c.status in (Status.TIE, Status.VOID)
            row.setdefault("net", Decimal("0"))
            row["net"] += c.profit
        results = [
            MarketResult(r["name"], r["symbol"], *r["n"], net=_cents(r["net"]))
            for r in sorted(rows.values(), key=lambda r: (-r["n"][0], r["name"]))
        ]
        return results[:limit]


@contextmanager
def naive_figures(naive: Naive):
    from apps.dashboard import selectors

    names = ("cards", "chart_data", "results_by_market")
    originals = {name: getattr(selectors, name) for name in names}
    for name in names:
        setattr(selectors, name, getattr(naive, name))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(selectors, name, function)


def same_figures(account, naive: Naive) -> None:
    """The real selectors and the naive ones must agree on every figure of every range."""
    from apps.dashboard import selectors

    naive.reset()
    if selectors.cards(account=account) != naive.cards(account=account):
        raise Breach(f"cards differ: {selectors.cards(account=account)} vs {naive.cards(account=account)}")
    for key in selectors.RANGES:
        if selectors.chart_data(account=account, key=key) != naive.chart_data(account=account, key=key):
            raise Breach(f"the charts of range {key} differ")
        if selectors.results_by_market(account=account, key=key) != naive.results_by_market(account=account, key=key):
            raise Breach(f"the results by market of range {key} differ")


# --- Measurements -------------------------------------------------------------


@contextmanager
def sql_clock():
    """Statements and their time, by the statement's first words (the query's shape)."""
    from django.db import connection

    spent = defaultdict(float)
    counts = defaultdict(int)

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = " ".join(sql.split())[:110]
            spent[shape] += time.perf_counter() - started
            counts[shape] += 1

    with connection.execute_wrapper(wrapper):
        yield spent, counts


def time_loads(client, path: str, loads: int, before_each=None) -> dict:
    """Milliseconds per load of `path` (after two loads to warm up), its queries, and the SQL's share."""
    for _ in range(2):
        if before_each:
            before_each()
        client.get(path)
    times = []
    with sql_clock() as (spent, counts):
        for _ in range(loads):
            if before_each:
                before_each()
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise Breach(f"GET {path} answered {response.status_code}")
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return {
        "p50_ms": statistics.median(times),
        "mean_ms": statistics.fmean(times),
        "p95_ms": p95,
        "queries": sum(counts.values()) / loads,
        "sql_ms": sum(spent.values()) * 1000 / loads,
        "statements": sorted(((t * 1000 / loads, counts[s] / loads, s) for s, t in spent.items()), reverse=True),
    }


def run_backend(databases, n: int, loads: int, naive_loads: int, days: int) -> dict:
    from django.conf import settings
    from django.test import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    databases.prepare()
    try:
        _use(str(databases.template))
        version = databases.version()
        _close()
        prefix = databases.label
        figures: dict[str, float | int] = {}
        with fresh_database(databases, "dashboard"):
            started = time.perf_counter()
            account = build_history(n, days)
            check_books(f"building {n:,} contracts")
            built = time.perf_counter() - started
            naive = Naive()
            same_figures(account, naive)
            client = Client()
            client.force_login(account.user)
            print(f"\nDashboard — {version}: {n:,} settled contracts over {days} days, built in {built:.1f} s")
            print(
                f"{'page':>16} {'loads':>6} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'SQL ms':>8}"
                f" {'naive loads':>12} {'p50 ms':>9} {'p95 ms':>9} {'queries':>8} {'naive/real':>11}"
            )
            breakdown = {}
            for label, path in (("30 days", "/"), ("all", "/?range=all")):
                real = time_loads(client, path, loads)
                with naive_figures(naive):
                    slow = time_loads(client, path, naive_loads, before_each=naive.reset)
                ratio = slow["p50_ms"] / real["p50_ms"]
                print(
                    f"{label:>16} {loads:>6} {real['p50_ms']:>8.1f} {real['p95_ms']:>8.1f} {real['queries']:>8.0f}"
                    f" {real['sql_ms']:>8.1f} {naive_loads:>12} {slow['p50_ms']:>9.1f} {slow['p95_ms']:>9.1f}"
                    f" {slow['queries']:>8.0f} {ratio:>10.1f}×"
                )
                key = "default" if path == "/" else "all"
                breakdown[label] = real
                figures.update(
                    {
                        f"{prefix}_dashboard_{key}_p50_ms": round(real["p50_ms"], 2),
                        f"{prefix}_dashboard_{key}_p95_ms": round(real["p95_ms"], 2),
                        f"{prefix}_dashboard_{key}_queries_per_load": round(real["queries"], 1),
                        f"{prefix}_dashboard_{key}_sql_ms_per_load": round(real["sql_ms"], 2),
                        f"{prefix}_naive_{key}_p50_ms": round(slow["p50_ms"], 2),
                        f"{prefix}_naive_{key}_p95_ms": round(slow["p95_ms"], 2),
                        f"{prefix}_naive_{key}_queries_per_load": round(slow["queries"], 1),
                        f"{prefix}_ratio_naive_vs_real_{key}": round(ratio, 1),
                    }
                )
            target = figures[f"{prefix}_dashboard_default_p95_ms"]
            print(f"{'':>16} target: p95 < 150 ms for the default page: {'met' if target < 150 else 'MISSED'}")
            for label, real in breakdown.items():
                rest = real["mean_ms"] - real["sql_ms"]
                print(
                    f"\nWhere a load's time goes ({label}, means over the loads): {real['mean_ms']:.1f} ms,"
                    f" of which SQL {real['sql_ms']:.1f} ms and the rest (views, templates, middleware) {rest:.1f} ms"
                )
                for ms, count, shape in real["statements"][:6]:
                    print(f"  {ms:>7.2f} ms  {count:>4.0f}×  {shape}")
            figures[f"{prefix}_contracts"] = n
            figures[f"{prefix}_build_s"] = round(built, 1)
        return figures
    finally:
        _close()
        databases.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=100_000, help="settled contracts of the trader")
    parser.add_argument("--loads", type=int, default=50, help="timed loads of the real page")
    parser.add_argument("--naive-loads", type=int, default=5, help="timed loads of the naive page (each takes long)")
    parser.add_argument("--days", type=int, default=365, help="the history's length in days")
    parser.add_argument("--postgres-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    outer_url = os.environ.get("DATABASE_URL", "")
    postgres_url = outer_url if outer_url.startswith(("postgres://", "postgresql://", "pgsql://")) else ""
    run = (args.contracts, args.loads, args.naive_loads, args.days)

    if args.postgres_only:
        _configure(postgres_url)
        logging.getLogger("apps").setLevel(logging.WARNING)
        print(json.dumps(run_backend(PostgresDatabases(postgres_url), *run)))
        return

    directory = tempfile.mkdtemp(prefix="nexus-bench-")
    try:
        _configure(f"sqlite:///{directory}/template.sqlite3")
        logging.getLogger("apps").setLevel(logging.WARNING)
        figures = run_backend(SqliteDatabases(directory), *run)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    if postgres_url:
        child = subprocess.run(
            [sys.executable, __file__, "--postgres-only", *sys.argv[1:]],
            env={**os.environ, "DATABASE_URL": postgres_url},
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
