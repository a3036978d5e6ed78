"""Daily summary benchmark: `digests_send` for many traders against a naive per-trader loop.

    .venv/bin/python bench/digest.py [--traders 10000] [--contracts 5] [--naive 1000]

Runs on a fresh SQLite database in a temporary directory (migrated once, copied for each run). It
writes --traders traders opted in to the daily summary by email, on a plan with email alerts, spread
over eight time zones where it is between 07:00 and noon at the moment measured; each has a demo
account, --contracts contracts settled during their local yesterday, and one bot running. Then it times

  real   apps.notifications.digest.digests_send(): due traders claimed in batches, one aggregate query per
         batch and day window, one for the bots, summaries and emails written in bulk, handed to the worker
         queue a batch of emails per task (django-q2's ORM broker, in the same database)
  naive  a per-trader loop written below: the trader's plan, contracts and bots read one trader at a time,
         the email rendered, saved and queued one by one, the in-app notice created one by one

The naive loop runs on --naive traders (it is slow) and its time is scaled to --traders for the ratio.
Both must write one summary and one email per trader, and the real path's second run must write none.
Nothing here asserts on time. The last line printed is one JSON object with every figure.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
# Between 07:00 and noon at NOW, so every trader is due in one run.
ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Africa/Lagos",
    "Atlantic/Azores",
    "America/Sao_Paulo",
    "America/Noronha",
    "Atlantic/Cape_Verde",
]


def configure(database: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "nexus.settings"
    os.environ["DEBUG"] = "on"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["REDIS_URL"] = ""
    os.environ["Q_SYNC"] = "off"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # no query log while timing


def use(path: Path) -> None:
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = str(path)


def populate(traders: int, contracts: int) -> None:
    """Traders, accounts, settled contracts and bots, written in bulk."""
    from apps.accounts.models import AccountType, TradingAccount
    from apps.billing.models import Plan, Source, Status, Subscription
    from apps.bots.models import Bot, BotStatus, StrategyConfig
    from apps.ledger.models import AccountKind, LedgerAccount, Realm
    from apps.markets.seed import seed_markets
    from apps.notifications.models import Channel, NotificationPreferences
    from apps.trading.models import Contract
    from apps.trading.models import Status as ContractStatus
    from apps.users.models import User

    market = seed_markets()[0]
    users = User.objects.bulk_create(
        [User(email=f"t{i}@bench.local", password="!", time_zone=ZONES[i % len(ZONES)]) for i in range(traders)],
        batch_size=2000,
    )
    zones = {u.pk: u.time_zone for u in users}
    ledgers = LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(
                code=f"bench:{u.pk}", name="Demo", kind=AccountKind.USER, realm=Realm.DEMO, currency="USD", owner=u
            )
            for u in users
        ],
        batch_size=2000,
    )
    accounts = TradingAccount.objects.bulk_create(
        [
            TradingAccount(user=u, type=AccountType.DEMO, label="Demo", currency="USD", ledger_account=lg)
            for u, lg in zip(users, ledgers, strict=True)
        ],
        batch_size=2000,
    )
    plan = Plan.objects.get(code="basic")
    Subscription.objects.bulk_create(
        [Subscription(user=u, plan=plan, source=Source.GRANT, status=Status.ACTIVE) for u in users], batch_size=2000
    )
    NotificationPreferences.objects.bulk_create(
        [NotificationPreferences(user=u, daily_summary=Channel.EMAIL) for u in users], batch_size=2000
    )
    rows = []
    for u, account in zip(users, accounts, strict=True):
        from zoneinfo import ZoneInfo

        noon_yesterday = datetime(2026, 1, 1, 12, 0, tzinfo=ZoneInfo(zones[u.pk]))
        for j in range(contracts):
            won = j % 2 == 0
            when = noon_yesterday + timedelta(minutes=j)
            rows.append(
                Contract(
                    user=u,
                    account=account,
                    market=market,
                    direction="RISE",
                    stake=Decimal("10.00"),
                    payout_percent=Decimal("95.00"),
                    payout=Decimal("19.50"),
                    tie_rule=market.tie_rule,
                    duration=5,
                    duration_unit="t",
                    idempotency_key=f"b{j}",
                    purchased_at=when,
                    purchase_seq=1,
                    status=ContractStatus.WON if won else ContractStatus.LOST,
                    settled_at=when,
                    amount_paid=Decimal("19.50") if won else Decimal("0.00"),
                )
            )
    Contract.objects.bulk_create(rows, batch_size=2000)
    config = StrategyConfig.objects.first() or StrategyConfig.objects.create(
        key="bench", strategies={}, min_agreeing=2, min_confidence=Decimal("0.70")
    )
    Bot.objects.bulk_create(
        [
            Bot(user=u, account=a, market=market, name="Bench bot", config=config, status=BotStatus.RUNNING)
            for u, a in zip(users, accounts, strict=True)
        ],
        batch_size=2000,
    )


def naive(now: datetime, limit: int) -> int:
    """The obvious loop: one trader at a time, every read and write on its own."""
    from django.db import transaction
    from django.db.models import Count, F, Q, Sum
    from django_q.tasks import async_task

    from apps.billing.entitlements import feature_refusal
    from apps.bots.models import Bot, BotStatus
    from apps.notifications import digest
    from apps.notifications.email import Email, render
    from apps.notifications.models import Channel, Kind, NotificationPreferences
    from apps.notifications.services import notification_create
    from apps.trading.models import Contract
    from apps.trading.models import Status as ContractStatus
    from apps.users.selectors import user_timezone

    done = 0
    for prefs in NotificationPreferences.objects.exclude(daily_summary=Channel.OFF).order_by("pk")[:limit]:
        with transaction.atomic():
            user = prefs.user
            local = now.astimezone(user_timezone(user))
            if not (7 <= local.hour < 12) or prefs.digest_sent_on == local.date():
                continue
            prefs.digest_sent_on = local.date()
            prefs.save(update_fields=["digest_sent_on"])
            day = local.date() - timedelta(days=1)
            start, end = digest.local_day_bounds(day, local.tzinfo)
            figures = Contract.objects.filter(user=user, settled_at__gte=start, settled_at__lt=end).aggregate(
                trades=Count("pk"),
                wins=Count("pk", filter=Q(status=ContractStatus.WON)),
                net=Sum(F("amount_paid") - F("stake")),
            )
            running = Bot.objects.filter(user=user, status=BotStatus.RUNNING).count()
            lines = [f"Trades settled: {figures['trades']} ({figures['wins']} won)", f"Bots running: {running}"]
            pnl = [("USD", f"{figures['net'] or 0:+,.2f}")]
            summary = {"trades": figures["trades"], "wins": figures["wins"], "pnl": pnl, "lines": lines}
            summary |= {"bot_lines": lines[1:], "headline": f"{figures['trades']} trades"}
            notification_create(user=user, kind=Kind.DAILY_SUMMARY, title="Your day", body="\n".join(lines))
            if feature_refusal(user, "email_alerts") is None:
                row = render(Email(user.pk, user.email, "daily_summary", "daily_summary", {"day": day, **summary}))
                row.dedupe_key = f"naive:{user.pk}:{day}"
                row.save()
                async_task("apps.notifications.tasks.outbox_send", [row.pk], group="email")
            done += 1
    return done


def counts() -> tuple[int, int, int]:
    from django_q.models import OrmQ

    from apps.notifications.models import Notification, OutboxEmail

    return Notification.objects.count(), OutboxEmail.objects.count(), OrmQ.objects.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traders", type=int, default=10_000)
    parser.add_argument("--contracts", type=int, default=5, help="settled contracts per trader on the day")
    parser.add_argument("--naive", type=int, default=1000, help="traders the naive loop runs on")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="nexus-bench-digest-"))
    try:
        template = directory / "template.sqlite3"
        configure(template)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.test.utils import CaptureQueriesContext

        from apps.notifications import digest

        t = time.perf_counter()
        populate(args.traders, args.contracts)
        print(
            f"populated {args.traders} traders, {args.traders * args.contracts} contracts in "
            f"{time.perf_counter() - t:.1f} s"
        )
        from django.db import connection

        connection.close()
        real_db, naive_db = directory / "real.sqlite3", directory / "naive.sqlite3"
        shutil.copyfile(template, real_db)
        shutil.copyfile(template, naive_db)

        use(real_db)
        with CaptureQueriesContext(connection) as queries:
            t0, c0 = time.perf_counter(), time.process_time()
            written = digest.digests_send(NOW)
            real_s, real_cpu = time.perf_counter() - t0, time.process_time() - c0
        notices, emails, queued = counts()
        again = digest.digests_send(NOW + timedelta(minutes=1))
        assert written == args.traders == notices == emails, (written, notices, emails)
        assert again == 0
        print(
            f"real:  {written} summaries, {emails} emails, {queued} worker tasks in {real_s:.2f} s "
            f"(CPU {real_cpu:.2f} s), {len(queries)} queries"
        )

        use(naive_db)
        n = min(args.naive, args.traders)
        t0, c0 = time.perf_counter(), time.process_time()
        naive_written = naive(NOW, n)
        naive_s, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
        notices, emails, naive_queued = counts()
        assert naive_written == n == notices == emails, (naive_written, notices, emails)
        naive_scaled = naive_s * args.traders / n
        print(
            f"naive: {n} summaries in {naive_s:.2f} s (CPU {naive_cpu:.2f} s); "
            f"scaled to {args.traders}: {naive_scaled:.1f} s"
        )
        ratio = naive_scaled / real_s if real_s else float("inf")
        print(f"real is {ratio:.1f}x faster; {args.traders} traders in {real_s:.2f} s (target under 30 s)")
        connection.close()
        print(
            json.dumps(
                {
                    "traders": args.traders,
                    "contracts_per_trader": args.contracts,
                    "real_s": round(real_s, 3),
                    "real_cpu_s": round(real_cpu, 3),
                    "real_queries": len(queries),
                    "real_worker_tasks": queued,
                    "real_per_trader_ms": round(real_s * 1000 / args.traders, 3),
                    "naive_traders": n,
                    "naive_s": round(naive_s, 3),
                    "naive_scaled_s": round(naive_scaled, 3),
                    "naive_per_trader_ms": round(naive_s * 1000 / n, 3),
                    "speedup_ratio": round(ratio, 2),
                    "under_30_s": real_s < 30,
                }
            )
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
