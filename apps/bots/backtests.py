"""Backtests: the service that checks and queues one, and the worker task that runs it.

A backtest runs the live code (strategies, consensus, regime, risk manager)
through `engine.backtest.run` over recorded ticks, read from the database in
chunks (a 30-day series is millions of rows), or over a generated OTC series
from a seed. The settings are saved as a JSON snapshot on the row, so the
report always matches what ran, whatever happens to the bot later. Same seed
and settings give the same report.
"""

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from apps.markets.generator import GeneratorSettings
from apps.markets.models import Market, Tick

from .engine.config import DecisionConfig
from .engine.risk import MIN_STAKE, RiskSettings
from .models import RISK_SETTING_FIELDS, Backtest, BacktestSource, BacktestStatus, Bot
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
        elif not Tick.objects.filter(market=market, time__gte=start, time__lt=end).exists():
            errors["start"] = f"No prices were recorded for {market.name} in that period."
    elif source == BacktestSource.GENERATED:
        if seed is None or seed < 0:
            errors["seed"] = "Enter a seed (a whole number, 0 or more)."
        if not length or length < 1:
            errors["length"] = "Enter how many ticks to generate."
    else:
        errors["source"] = "Choose recorded ticks or a generated series."
    return errors


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
    """Check and save a backtest, then queue it for the worker. ValidationError names each bad field."""
    if errors := backtest_errors(
        market=market, source=source, start=start, end=end, seed=seed, length=length, settings=settings
    ):
        raise ValidationError(errors)
    if source == BacktestSource.GENERATED:
        start = GENERATED_START
        end = start + timedelta(milliseconds=market.tick_interval_ms * length)
    else:
        seed = length = None
    snapshot = {
        "strategies": {s.name: s.params() for s in decision.built},
        "min_agreeing": decision.min_agreeing,
        "min_confidence": str(Decimal(decision.min_confidence).quantize(Decimal("0.01"))),
        **{k: str(v) if k in DECIMAL_SETTINGS else v for k, v in settings.items()},
        "blocked_regimes": sorted(settings.get("blocked_regimes") or []),
        "payout_percent": str(market.payout_percent),
        "tie_rule": market.tie_rule,
        "market_min_stake": str(market.min_stake),
        "market_max_stake": str(market.max_stake),
        "tick_interval_ms": market.tick_interval_ms,
        "length": length,
    }
    with transaction.atomic():
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
        # Robust: a broker out of reach never turns the saved backtest into an error page (it stays QUEUED).
        transaction.on_commit(
            lambda: async_task("apps.bots.tasks.run_backtest", backtest.pk, group="backtests"), robust=True
        )
    return backtest


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
    """Writes the percent done at most once a second (and never the same percent twice)."""

    def __init__(self, backtest_id: int, every_s: float = PROGRESS_EVERY_S):
        self.backtest_id, self.every_s = backtest_id, every_s
        self.written_at, self.percent = time.monotonic(), 0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not total or now - self.written_at < self.every_s:
            return
        percent = min(int(done * 100 / total), 99)
        if percent != self.percent:
            Backtest.objects.filter(pk=self.backtest_id, status=BacktestStatus.RUNNING).update(progress=percent)
            self.percent = percent
        self.written_at = now


def backtest_run(*, backtest_id: int) -> str:
    """Run a queued backtest and save its report; a failure is saved as a readable error, not raised."""
    from .engine import backtest as engine

    # RUNNING too: a worker killed mid-run leaves it so, and the retry starts it over.
    claimed = Backtest.objects.filter(
        pk=backtest_id, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]
    ).update(status=BacktestStatus.RUNNING, progress=0, error="")
    if not claimed:
        return "skipped"
    backtest = Backtest.objects.select_related("market").get(pk=backtest_id)
    try:
        spec = backtest_spec(backtest)
        ticks, total = _ticks(backtest)
        report = engine.run(spec, ticks, progress=ProgressWriter(backtest_id), total=total)
        data = json.loads(json.dumps(report.to_dict(), cls=DjangoJSONEncoder))
    except Exception as error:
        logger.exception("backtest %s failed", backtest_id)
        message = str(error) if isinstance(error, ValueError) else f"an internal error ({type(error).__name__})."
        Backtest.objects.filter(pk=backtest_id).update(
            status=BacktestStatus.FAILED, error=message[:300], finished_at=timezone.now()
        )
        return "failed"
    Backtest.objects.filter(pk=backtest_id).update(
        status=BacktestStatus.DONE, progress=100, report=data, finished_at=timezone.now()
    )
    return "done"
