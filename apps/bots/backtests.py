"""Backtests: the service that checks and queues one, and the worker task that runs it.

A backtest runs the live code (strategies, consensus, regime, risk manager)
through `engine.backtest.run` over recorded ticks, read from the database in
chunks (a 30-day series is millions of rows), or over a generated OTC series
from a seed. The settings are saved as a JSON snapshot on the row, so the
report always matches what ran, whatever happens to the bot later. Same seed
and settings give the same report.

Backtests run on their own django-q2 cluster (`settings.BACKTESTS["CLUSTER"]`),
so settlement and the bots' decision cycles never wait behind one. A trader
has at most `MAX_ACTIVE` queued or running, a run reads at most `MAX_TICKS`
ticks (what fits the cluster's time limit), and a run the worker stops is
FAILED with the reason: at once when the time limit interrupts it, or by the
stale-run sweep when its process died without a word.
"""

import json
import logging
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.exceptions import TimeoutException
from django_q.tasks import async_task

from apps.billing.entitlements import limit_refusal
from apps.ledger.models import Realm
from apps.markets.generator import GeneratorSettings
from apps.markets.models import Market, Source, Tick
from apps.revenue.services import rates_in_force

from .engine.config import DecisionConfig
from .engine.risk import MIN_STAKE, RiskSettings
from .models import (
    BACKTEST_TRADES_STORED,
    RISK_SETTING_FIELDS,
    Backtest,
    BacktestSource,
    BacktestStatus,
    BacktestTrade,
    Bot,
)
from .services import bot_errors

logger = logging.getLogger(__name__)

# What a backtest form passes besides its market, source and period.
BACKTEST_SETTINGS = ("blocked_regimes", "duration", "duration_unit", *RISK_SETTING_FIELDS, "starting_balance")
DECIMAL_SETTINGS = {"base_stake", "max_stake", "daily_loss_limit", "max_drawdown_pct", "starting_balance"}

# A generated series starts at a fixed time: its clock is simulated, and the
# same seed must give the same report, times included.
GENERATED_START = datetime(2024, 1, 1, tzinfo=UTC)
TICK_CHUNK = 20_000
PROGRESS_EVERY_S = 1.0
# A running backtest writes its heartbeat at least this often, progress or not.
HEARTBEAT_EVERY_S = 30.0
STOPPED_BY_WORKER = "stopped by the worker (time limit)."
# A backtest still queued this long after it was created was lost by the queue
# (a Redis restart without persistence): it would hold a place of the cap for good.
QUEUED_FOR_AT_MOST = timedelta(days=1)
NEVER_STARTED = "never started: the task queue lost it. Run it again."


# --- The service -------------------------------------------------------------------


def backtest_errors(*, market: Market, source: str, start, end, seed, length, settings: dict) -> dict[str, str]:
    """Every problem with a backtest's settings, by field, in a trader's words (nothing is saved)."""
    errors: dict[str, str] = {}
    if not market.is_active:
        errors["market"] = f"{market.name} is closed."
    # The bot's own checks: stake and limits against the market, regimes, duration.
    probe = Bot(market=market, **{k: v for k, v in settings.items() if k != "starting_balance"})
    errors |= bot_errors(bot=probe)
    balance = settings.get("starting_balance")
    if balance is None or balance < MIN_STAKE:
        errors["starting_balance"] = f"The starting balance must be at least {MIN_STAKE}."
    if source == BacktestSource.RECORDED:
        if start is None or end is None or end <= start:
            errors["end"] = "Choose a period: the end must be after the start."
        elif not (count := _recorded_count(market, start, end)):
            errors["start"] = f"No prices were recorded for {market.name} in that period."
        elif count > (most := django_settings.BACKTESTS["MAX_TICKS"]):
            errors["end"] = (
                f"That period holds more than {most:,} ticks, more than fits the backtest time limit: "
                "choose a shorter one."
            )
    elif source == BacktestSource.GENERATED:
        if seed is None or seed < 0:
            errors["seed"] = "Enter a seed (a whole number, 0 or more)."
        if not length or length < 1:
            errors["length"] = "Enter how many ticks to generate."
        elif length > (most := django_settings.BACKTESTS["MAX_TICKS"]):
            errors["length"] = f"Generate at most {most:,} ticks: a longer run does not fit the backtest time limit."
    else:
        errors["source"] = "Choose recorded ticks or a generated series."
    return errors


def _recorded_count(market: Market, start, end) -> int:
    """The ticks in the period, counted no further than one past the maximum (a month is millions of rows)."""
    most = django_settings.BACKTESTS["MAX_TICKS"]
    return Tick.objects.filter(market=market, time__gte=start, time__lt=end).values("pk")[: most + 1].count()


def backtests_active_count(*, user) -> int:
    return Backtest.objects.filter(user=user, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]).count()


def backtest_create(
    *,
    user,
    name: str,
    market: Market,
    source: str,
    start=None,
    end=None,
    seed: int | None = None,
    length: int | None = None,
    decision: DecisionConfig,
    settings: dict,
) -> Backtest:
    """Check and save a backtest, then queue it on the backtest cluster. ValidationError names each bad field.

    A trader with `MAX_ACTIVE` backtests queued or running is refused (a form error).
    """
    if errors := backtest_errors(
        market=market, source=source, start=start, end=end, seed=seed, length=length, settings=settings
    ):
        raise ValidationError(errors)
    if source == BacktestSource.GENERATED:
        start = GENERATED_START
        end = start + timedelta(milliseconds=market.tick_interval_ms * length)
    else:
        seed = length = None
    # The plan's longest backtest, in days of prices: a generated series spans its length × the market's tick.
    days = math.ceil((end - start).total_seconds() / 86400)
    if refusal := limit_refusal(user, "max_backtest_days", wanted=days):
        raise refusal.error("length" if source == BacktestSource.GENERATED else "end")
    snapshot = {
        "strategies": {s.name: s.params() for s in decision.built},
        "min_agreeing": decision.min_agreeing,
        "min_confidence": str(Decimal(decision.min_confidence).quantize(Decimal("0.01"))),
        **{k: str(v) if k in DECIMAL_SETTINGS else v for k, v in settings.items()},
        "blocked_regimes": sorted(settings.get("blocked_regimes") or []),
        "payout_percent": str(market.payout_percent),
        **_fee_rates(user, market),
        "tie_rule": market.tie_rule,
        "market_min_stake": str(market.min_stake),
        "market_max_stake": str(market.max_stake),
        "tick_interval_ms": market.tick_interval_ms,
        "length": length,
    }
    with transaction.atomic():
        # The trader's row serialises their submissions: two at once cannot both pass the cap.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        most = django_settings.BACKTESTS["MAX_ACTIVE"]
        if backtests_active_count(user=user) >= most:
            raise ValidationError(
                f"You already have {most} backtest{'s' if most != 1 else ''} queued or running, the most at once: "
                "wait for one to finish.",
                code="too_many",
            )
        # The plan's cap and the installation's: the lower one refuses first.
        if refusal := limit_refusal(user, "max_concurrent_backtests", wanted=backtests_active_count(user=user) + 1):
            raise refusal.error()
        backtest = Backtest.objects.create(
            user=user,
            market=market,
            name=name,
            source=source,
            start=start,
            end=end,
            seed=seed,
            settings=snapshot,
        )
        cluster = django_settings.BACKTESTS["CLUSTER"]
        # Robust: a broker out of reach never turns the saved backtest into an error page (it stays
        # QUEUED; the stale sweep fails it after a day so it does not hold the trader's cap).
        transaction.on_commit(
            lambda: async_task("apps.bots.tasks.run_backtest", backtest.pk, group="backtests", cluster=cluster),
            robust=True,
        )
    return backtest


def _fee_rates(user, market: Market) -> dict[str, str]:
    """The commission and markup the trader's live contracts on `market` carry now: a backtest counts net profit.

    Only markets Nexus settles itself (its OTC markets, on the demo realm) carry them; Deriv settles its own.
    """
    if market.source != Source.OTC:
        return {"commission_percent": "0", "markup_percent": "0"}
    rates = rates_in_force(user_ids=[user.pk], realm=Realm.DEMO, source=market.source)[user.pk]
    return {"commission_percent": str(rates.commission_rate), "markup_percent": str(rates.markup_rate)}


def backtest_settings_initial(backtest: Backtest) -> dict:
    """Form values from a saved backtest, to run it again with changes."""
    from .forms import SettingsForm

    s = backtest.settings
    settings = {k: s[k] for k in BACKTEST_SETTINGS if k in s}
    initial = SettingsForm.initial_from(settings, s["strategies"], s["min_agreeing"], s["min_confidence"])
    return initial | {
        "name": backtest.name,
        "market": backtest.market_id,
        "source": backtest.source,
        "seed": backtest.seed,
        "length": s.get("length"),
        "start": None if backtest.source == BacktestSource.GENERATED else backtest.start,
        "end": None if backtest.source == BacktestSource.GENERATED else backtest.end,
    }


# --- The task ----------------------------------------------------------------------


def backtest_spec(backtest: Backtest):
    from .engine.backtest import BacktestSpec

    s = backtest.settings
    return BacktestSpec(
        decision=DecisionConfig.from_stored(s["strategies"], s["min_agreeing"], s["min_confidence"]),
        blocked_regimes=frozenset(s.get("blocked_regimes") or ()),
        risk=RiskSettings(
            market_min_stake=max(Decimal(s["market_min_stake"]), MIN_STAKE),
            market_max_stake=Decimal(s["market_max_stake"]),
            **{name: Decimal(s[name]) if name in DECIMAL_SETTINGS else s[name] for name in RISK_SETTING_FIELDS},
        ),
        duration=s["duration"],
        duration_unit=s["duration_unit"],
        payout_percent=Decimal(s["payout_percent"]),
        commission_percent=Decimal(s.get("commission_percent", "0")),
        markup_percent=Decimal(s.get("markup_percent", "0")),
        tie_rule=s["tie_rule"],
        starting_balance=Decimal(s["starting_balance"]),
    )


def recorded_ticks(market_id: int, start, end, *, chunk: int = TICK_CHUNK) -> Iterator[tuple[datetime, Decimal]]:
    """The market's ticks in [start, end), oldest first, read `chunk` rows at a time by sequence number."""
    ticks = Tick.objects.filter(market_id=market_id, time__gte=start, time__lt=end).order_by("seq")
    after = None
    while True:
        page = ticks if after is None else ticks.filter(seq__gt=after)
        rows = list(page.values_list("seq", "time", "price")[:chunk])
        for _, at, price in rows:
            yield at, price
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def _ticks(backtest: Backtest) -> tuple[Iterator[tuple[datetime, Decimal]], int]:
    from .engine import backtest as engine

    if backtest.source == BacktestSource.RECORDED:
        ticks = Tick.objects.filter(market=backtest.market, time__gte=backtest.start, time__lt=backtest.end)
        return recorded_ticks(backtest.market_id, backtest.start, backtest.end), ticks.count()
    s = backtest.settings
    market = backtest.market
    series = engine.generated_ticks(
        seed=backtest.seed,
        start=backtest.start,
        count=s["length"],
        interval_ms=s.get("tick_interval_ms") or market.tick_interval_ms,
        settings=GeneratorSettings(
            volatility_mode=market.volatility_mode,
            trend_bias=float(market.trend_bias),
            decimals=market.decimals,
        ),
        price=market.base_price,
    )
    return series, s["length"]


class ProgressWriter:
    """Writes the percent done at most once a second (never the same percent twice), with the heartbeat.

    The heartbeat is written with each new percent, and at least every
    `heartbeat_s` when the percent stands still (a slow stretch of a long run).
    """

    def __init__(self, backtest_id: int, every_s: float = PROGRESS_EVERY_S, heartbeat_s: float = HEARTBEAT_EVERY_S):
        self.backtest_id, self.every_s, self.heartbeat_s = backtest_id, every_s, heartbeat_s
        self.written_at = self.beat_at = time.monotonic()
        self.percent = 0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.written_at < self.every_s:
            return
        percent = min(int(done * 100 / total), 99) if total else self.percent
        running = Backtest.objects.filter(pk=self.backtest_id, status=BacktestStatus.RUNNING)
        if percent != self.percent:
            running.update(progress=percent, heartbeat_at=timezone.now())
            self.percent, self.beat_at = percent, now
        elif now - self.beat_at >= self.heartbeat_s:
            running.update(heartbeat_at=timezone.now())
            self.beat_at = now
        self.written_at = now


def backtest_run(*, backtest_id: int) -> str:
    """Run a queued backtest and save its report; a failure is saved as a readable error, not raised."""
    from .engine import backtest as engine

    # RUNNING too: a duplicate delivery of the task starts it over (the
    # backtest cluster makes one attempt; the stale sweep fails a dead run).
    now = timezone.now()
    claimed = Backtest.objects.filter(
        pk=backtest_id, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]
    ).update(status=BacktestStatus.RUNNING, progress=0, error="", started_at=now, heartbeat_at=now)
    if not claimed:
        return "skipped"
    backtest = Backtest.objects.select_related("market").get(pk=backtest_id)
    try:
        spec = backtest_spec(backtest)
        ticks, total = _ticks(backtest)
        kept: list[BacktestTrade] = []

        def keep(trade) -> None:
            if len(kept) < BACKTEST_TRADES_STORED:
                kept.append(BacktestTrade(backtest_id=backtest_id, number=len(kept) + 1, **vars(trade)))

        report = engine.run(spec, ticks, progress=ProgressWriter(backtest_id), total=total, on_trade=keep)
        data = json.loads(json.dumps(report.to_dict(), cls=DjangoJSONEncoder))
        data["trades_stored"] = len(kept)
    except TimeoutException:
        # django-q2's time limit: a SystemExit raised in the task. Say so, then
        # let it go on up so the worker records the timeout and is replaced.
        logger.warning("backtest %s stopped at the time limit", backtest_id)
        _fail(backtest_id, STOPPED_BY_WORKER)
        raise
    except Exception as error:
        logger.exception("backtest %s failed", backtest_id)
        message = str(error) if isinstance(error, ValueError) else f"an internal error ({type(error).__name__})."
        _fail(backtest_id, message)
        return "failed"
    with transaction.atomic():
        # A duplicate delivery ran it again: its list replaces the first run's.
        BacktestTrade.objects.filter(backtest_id=backtest_id).delete()
        BacktestTrade.objects.bulk_create(kept, batch_size=500)
        Backtest.objects.filter(pk=backtest_id).update(
            status=BacktestStatus.DONE, progress=100, report=data, finished_at=timezone.now()
        )
    return "done"


def _fail(backtest_id: int, reason: str) -> None:
    Backtest.objects.filter(pk=backtest_id, status=BacktestStatus.RUNNING).update(
        status=BacktestStatus.FAILED, error=reason[:300], finished_at=timezone.now()
    )


def backtests_fail_stale(*, now: datetime | None = None) -> int:
    """Fail the RUNNING backtests whose heartbeat stopped for longer than the backtest time limit.

    Their worker is gone: killed at the time limit before it could say so, out
    of memory, or restarted. Nothing would ever finish them, and they would
    hold a place of their trader's cap for good; so would a backtest queued a
    day ago that never started. Returns how many it failed.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=django_settings.BACKTESTS["TIMEOUT_S"])
    # No heartbeat at all: a run claimed before heartbeats were written.
    beat_stopped = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    stale = Backtest.objects.filter(beat_stopped, status=BacktestStatus.RUNNING)
    failed = stale.update(status=BacktestStatus.FAILED, error=STOPPED_BY_WORKER, finished_at=now)
    lost = Backtest.objects.filter(status=BacktestStatus.QUEUED, created_at__lt=now - QUEUED_FOR_AT_MOST)
    failed += lost.update(status=BacktestStatus.FAILED, error=NEVER_STARTED, finished_at=now)
    if failed:
        logger.warning("failed %s backtest(s) whose worker stopped", failed)
    return failed
