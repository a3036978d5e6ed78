"""Domain gauges read from the database when Prometheus scrapes the web process.

What the database already records is never counted twice in memory: open
contracts, escrow, running bots, tick age, the task queue, Deriv connections
and today's decisions and skips are each one grouped query per scrape. The
collector sits in a registry of its own, served only by the web process's
/metrics (the feed and the worker serve their in-process counters only), so
a deployment reads each figure once, whatever its number of processes.
"""

import logging
import math
from collections.abc import Callable, Iterator
from datetime import datetime, time

from django.db.models import Count, F, Sum
from django.utils import timezone
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


def _open_contracts() -> Iterator[Metric]:
    from apps.trading.models import HELD, Contract

    count = GaugeMetricFamily(
        "nexus_open_contracts", "Contracts whose stake is in escrow (open or pending).", labels=["realm", "currency"]
    )
    stake = GaugeMetricFamily(
        "nexus_open_stake", "Stakes of the contracts in escrow, in the currency's units.", labels=["realm", "currency"]
    )
    rows = (
        Contract.objects.filter(status__in=HELD)
        .values(realm=F("account__ledger_account__realm"), currency=F("account__ledger_account__currency"))
        .annotate(n=Count("id"), total=Sum("stake"))
        .order_by()
    )
    for row in rows:
        count.add_metric([row["realm"], row["currency"]], row["n"])
        stake.add_metric([row["realm"], row["currency"]], float(row["total"]))
    yield count
    yield stake


def _escrow() -> Iterator[Metric]:
    from apps.ledger.models import AccountKind, LedgerAccount

    family = GaugeMetricFamily(
        "nexus_escrow_balance", "Escrow accounts' balance (the stakes held).", labels=["realm", "currency"]
    )
    rows = (
        LedgerAccount.objects.filter(kind=AccountKind.ESCROW)
        .values("realm", "currency")
        .annotate(total=Sum("balance"))
        .order_by()
    )
    for row in rows:
        family.add_metric([row["realm"], row["currency"]], float(row["total"]))
    yield family


def _markets() -> Iterator[Metric]:
    from apps.markets.models import Market

    family = GaugeMetricFamily(
        "nexus_tick_age_seconds",
        "Seconds since an active market's last tick (+Inf before its first).",
        labels=["market", "source"],
    )
    now = timezone.now()
    for symbol, source, last_tick_at in Market.objects.filter(is_active=True).values_list(
        "symbol", "source", "last_tick_at"
    ):
        age = (now - last_tick_at).total_seconds() if last_tick_at else math.inf
        family.add_metric([symbol, source], max(age, 0.0))
    yield family


def _bots() -> Iterator[Metric]:
    from apps.bots.models import Bot, BotSkip, BotStatus, Decision
    from apps.markets.models import Market

    running = GaugeMetricFamily("nexus_bots_running", "Running bots, per market.", labels=["market"])
    for row in (
        Bot.objects.filter(status=BotStatus.RUNNING).values(market_symbol=F("market__symbol")).annotate(n=Count("id"))
    ).order_by():
        running.add_metric([row["market_symbol"]], row["n"])
    yield running

    # Today's figures (UTC day), read from the rows the bots app keeps: it
    # sends no per-decision signal, and BotSkip already counts per day and reason.
    today = timezone.localdate()
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    decisions = GaugeMetricFamily(
        "nexus_decisions_today",
        "Decisions made today, per market and direction (NONE: no trade).",
        labels=["market", "direction"],
    )
    # Filtering on the markets lets the (market, decided_at) index answer.
    market_ids = list(Market.objects.values_list("id", flat=True))
    rows = (
        Decision.objects.filter(market_id__in=market_ids, decided_at__gte=midnight)
        .values("direction", market_symbol=F("market__symbol"))
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        decisions.add_metric([row["market_symbol"], row["direction"]], row["n"])
    yield decisions

    skips = GaugeMetricFamily(
        "nexus_bot_skips_today", "Times bots skipped a decision that said trade today, per reason.", labels=["reason"]
    )
    for row in BotSkip.objects.filter(day=today).values("reason").annotate(n=Sum("count")).order_by():
        skips.add_metric([row["reason"]], row["n"])
    yield skips


def _tasks() -> Iterator[Metric]:
    from django_q.brokers import get_broker
    from django_q.models import Failure

    yield GaugeMetricFamily(
        "nexus_task_queue_depth", "Tasks waiting in the broker's queue.", value=get_broker().queue_size()
    )
    yield GaugeMetricFamily("nexus_tasks_failed", "Failed tasks kept by django-q2.", value=Failure.objects.count())


def _deriv() -> Iterator[Metric]:
    from apps.deriv.models import DerivAccount

    family = GaugeMetricFamily("nexus_deriv_accounts", "Deriv accounts, per connection state.", labels=["connection"])
    for row in DerivAccount.objects.values("connection").annotate(n=Count("id")).order_by():
        family.add_metric([row["connection"]], row["n"])
    yield family


READERS: tuple[Callable[[], Iterator[Metric]], ...] = (_open_contracts, _escrow, _markets, _bots, _tasks, _deriv)


class DomainCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        for read in READERS:
            # One failing read (a broker that is down) leaves the others' figures in the scrape.
            try:
                yield from list(read())
            except Exception:
                logger.warning("metrics: %s failed", read.__name__, exc_info=True)


DOMAIN_REGISTRY = CollectorRegistry()
DOMAIN_REGISTRY.register(DomainCollector())
