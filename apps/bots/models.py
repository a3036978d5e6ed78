from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce

from apps.accounts.models import TradingAccount
from apps.ledger.models import MONEY
from apps.markets.models import Market
from apps.trading.models import Contract, DurationUnit

from .engine import risk
from .engine.config import DecisionConfig
from .engine.regime import RegimeKind


class StrategyConfig(models.Model):
    """A distinct strategy configuration: bots that share one share each decision."""

    key = models.CharField(max_length=32, unique=True)
    strategies = models.JSONField(help_text="Strategy name → its parameters, defaults included.")
    min_agreeing = models.PositiveSmallIntegerField()
    min_confidence = models.DecimalField(max_digits=3, decimal_places=2)

    def __str__(self) -> str:
        return f"{', '.join(sorted(self.strategies))} ≥{self.min_agreeing} @{self.min_confidence}"

    @property
    def decision_config(self) -> DecisionConfig:
        return DecisionConfig.from_stored(self.strategies, self.min_agreeing, self.min_confidence)


class BotStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    STOPPED = "STOPPED", "Stopped"


class Recovery(models.TextChoices):
    NONE = risk.Recovery.NONE, "None: always the base stake"
    FIBONACCI = risk.Recovery.FIBONACCI, "Fibonacci steps after a loss"


STOP_REASONS = [(reason.value, reason.label[0].upper() + reason.label[1:]) for reason in risk.StopReason]
STOP_REASONS += [("BY_USER", "Stopped by you"), ("BY_STAFF", "Stopped by staff"), ("MARKET_CLOSED", "Market closed")]
STOP_REASONS += [("PLAN_LIMIT", "Over your plan's limit")]
# The trader's own rules (Settings > Responsible trading).
STOP_REASONS += [("SELF_EXCLUDED", "You paused your trading"), ("TRADER_LIMIT", "Your own daily limit was reached")]


class Bot(models.Model):
    """A trader's bot: its configuration, its risk limits and the risk manager's state."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="bots")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="bots")
    name = models.CharField(max_length=60)

    config = models.ForeignKey(StrategyConfig, on_delete=models.PROTECT, related_name="bots")
    blocked_regimes = models.JSONField(default=list, blank=True, help_text="Regimes in which the bot does not trade.")
    duration = models.PositiveSmallIntegerField(default=5)
    duration_unit = models.CharField(max_length=1, choices=DurationUnit.choices, default=DurationUnit.TICKS)

    base_stake = models.DecimalField(**MONEY, default=Decimal("1.00"))
    max_stake = models.DecimalField(**MONEY, default=Decimal("10.00"))
    recovery = models.CharField(max_length=10, choices=Recovery.choices, default=Recovery.NONE)
    fibonacci_max_steps = models.PositiveSmallIntegerField(default=5)
    daily_loss_limit = models.DecimalField(**MONEY, default=Decimal("100.00"))
    max_consecutive_losses = models.PositiveSmallIntegerField(default=5)
    max_trades_per_day = models.PositiveIntegerField(default=50)
    max_open_contracts = models.PositiveSmallIntegerField(default=3)
    max_drawdown_pct = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("20"))
    max_consecutive_errors = models.PositiveSmallIntegerField(default=5)

    status = models.CharField(max_length=8, choices=BotStatus.choices, default=BotStatus.STOPPED)
    stopped_reason = models.CharField(max_length=20, choices=STOP_REASONS, blank=True)
    stop_detail = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    # The risk manager's state (engine.risk.RiskState), kept between decisions.
    day = models.DateField(null=True, blank=True)
    starting_equity = models.DecimalField(**MONEY, null=True, blank=True)
    equity = models.DecimalField(**MONEY, null=True, blank=True)
    today_pnl = models.DecimalField(**MONEY, default=Decimal("0.00"))
    trades_today = models.PositiveIntegerField(default=0)
    consecutive_losses = models.PositiveIntegerField(default=0)
    recovery_step = models.PositiveSmallIntegerField(default=0)
    open_contracts = models.PositiveIntegerField(default=0)
    open_stake = models.DecimalField(**MONEY, default=Decimal("0.00"))
    consecutive_errors = models.PositiveIntegerField(default=0)

    last_decision_at = models.DateTimeField(null=True, blank=True)
    last_skip = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["market", "status", "config"])]
        constraints = [
            models.CheckConstraint(condition=Q(base_stake__gte=risk.MIN_STAKE), name="bot_base_stake_min"),
            models.CheckConstraint(condition=Q(max_stake__gte=models.F("base_stake")), name="bot_max_stake_gte_base"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_running(self) -> bool:
        return self.status == BotStatus.RUNNING

    def risk_settings(self) -> risk.RiskSettings:
        return risk_settings_of(vars(self), self.market)

    def risk_state(self) -> risk.RiskState:
        return risk_state_of(vars(self))

    def set_risk_state(self, state: risk.RiskState) -> None:
        for name in RISK_STATE_FIELDS:
            setattr(self, name, getattr(state, name))

    @property
    def stop_label(self) -> str:
        return self.get_stopped_reason_display() if self.stopped_reason else ""

    @property
    def next_stake(self):
        """What the next trade would stake before today's limits cut it (for the list)."""
        stake = self.base_stake * risk.fibonacci(self.recovery_step) if self.recovery == Recovery.FIBONACCI else None
        return min(stake, self.max_stake, self.market.max_stake) if stake is not None else self.base_stake


RISK_SETTING_FIELDS = (
    "base_stake",
    "max_stake",
    "recovery",
    "fibonacci_max_steps",
    "daily_loss_limit",
    "max_consecutive_losses",
    "max_trades_per_day",
    "max_open_contracts",
    "max_drawdown_pct",
    "max_consecutive_errors",
)


def risk_settings_of(values, market: Market) -> risk.RiskSettings:
    """A bot's risk settings from its field values (a model's or a `.values()` row) and its market's limits."""
    return risk.RiskSettings(
        market_min_stake=max(market.min_stake, risk.MIN_STAKE),
        market_max_stake=market.max_stake,
        **{name: values[name] for name in RISK_SETTING_FIELDS},
    )


def risk_state_of(values) -> risk.RiskState:
    return risk.RiskState(**{name: values[name] for name in RISK_STATE_FIELDS})


# Stored on the bot, except `stopped_reason`: the bot's own status says whether it runs.
RISK_STATE_FIELDS = (
    "day",
    "starting_equity",
    "equity",
    "today_pnl",
    "trades_today",
    "consecutive_losses",
    "recovery_step",
    "open_contracts",
    "open_stake",
    "consecutive_errors",
)


class RegimeRecord(models.Model):
    """The regime gatekeeper's reading of a market at one tick."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="regimes")
    seq = models.BigIntegerField()
    time = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=[(k.value, k.value.title()) for k in RegimeKind])
    confidence = models.DecimalField(max_digits=5, decimal_places=4)
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["-time", "-id"]
        constraints = [models.UniqueConstraint(fields=["market", "seq"], name="regime_market_seq")]

    def __str__(self) -> str:
        return f"{self.market_id} #{self.seq} {self.kind}"


class DecisionDirection(models.TextChoices):
    RISE = "RISE", "Rise"
    FALL = "FALL", "Fall"
    NONE = "NONE", "No trade"


class Decision(models.Model):
    """One strategy configuration's decision on one market at one tick, with every vote."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="decisions")
    config = models.ForeignKey(StrategyConfig, on_delete=models.PROTECT, related_name="decisions")
    seq = models.BigIntegerField(help_text="The tick decided on.")
    tick_time = models.DateTimeField()
    price = models.DecimalField(max_digits=20, decimal_places=6)
    direction = models.CharField(max_length=4, choices=DecisionDirection.choices)
    confidence = models.DecimalField(max_digits=5, decimal_places=4)
    reason = models.CharField(max_length=300)
    votes = models.JSONField(help_text="[{strategy, direction, confidence, reason}, ...]")
    regime = models.CharField(max_length=8)
    regime_confidence = models.DecimalField(max_digits=5, decimal_places=4)
    regime_reason = models.CharField(max_length=300)
    decided_at = models.DateTimeField()
    executed_at = models.DateTimeField(null=True, blank=True, help_text="When it was fanned out to the bots.")

    class Meta:
        ordering = ["-seq", "-id"]
        constraints = [models.UniqueConstraint(fields=["market", "config", "seq"], name="decision_market_config_seq")]
        indexes = [models.Index(fields=["market", "-decided_at"])]

    def __str__(self) -> str:
        return f"{self.market_id} #{self.seq} {self.direction}"

    @property
    def is_actionable(self) -> bool:
        return self.direction != DecisionDirection.NONE


class BotTrade(models.Model):
    """A contract a bot bought on a decision, with why and how much."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="trades")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="trades")
    contract = models.OneToOneField(Contract, on_delete=models.PROTECT, related_name="bot_trade")
    stake = models.DecimalField(**MONEY)
    sizing = models.CharField(max_length=300, help_text="What the risk manager chose and why.")
    created_at = models.DateTimeField()
    result_applied = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["decision", "bot"], name="bot_trade_once_per_decision")]

    def __str__(self) -> str:
        return f"{self.bot_id} on decision {self.decision_id}"


class SkipReason(models.TextChoices):
    REGIME = "REGIME", "Regime blocked"
    RISK = "RISK", "Risk manager refused"
    REJECTED = "REJECTED", "Purchase refused"


class BotSkip(models.Model):
    """How often a bot skipped a decision that said trade, per day and reason, and the last time's words."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="skips")
    day = models.DateField()
    reason = models.CharField(max_length=12, choices=SkipReason.choices)
    count = models.PositiveIntegerField(default=0)
    last_detail = models.CharField(max_length=300)
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "reason"]
        constraints = [models.UniqueConstraint(fields=["bot", "day", "reason"], name="bot_skip_per_day_reason")]

    def __str__(self) -> str:
        return f"{self.bot_id} {self.day} {self.reason} ×{self.count}"


class KillSwitch(models.Model):
    """Engaged, it stops bots and refuses every new bot trade: one row per user, and one global row (user NULL)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "kill switches"
        constraints = [
            # The global row has no user: COALESCE makes it the one row with 0.
            models.UniqueConstraint(Coalesce("user", 0), name="one_kill_switch_per_scope"),
        ]

    def __str__(self) -> str:
        scope = "Global" if self.user_id is None else f"User {self.user_id}"
        return f"{scope} kill switch ({'on' if self.engaged else 'off'})"


class BacktestStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"


class BacktestSource(models.TextChoices):
    RECORDED = "RECORDED", "Recorded ticks"
    GENERATED = "GENERATED", "Generated series (seeded)"


class Backtest(models.Model):
    """A backtest of bot settings over recorded or generated prices, and its saved report."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtests")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="backtests")
    name = models.CharField(max_length=60)
    source = models.CharField(max_length=10, choices=BacktestSource.choices, default=BacktestSource.GENERATED)
    start = models.DateTimeField(help_text="Recorded: first tick time; generated: the series' start.")
    end = models.DateTimeField()
    seed = models.BigIntegerField(null=True, blank=True)
    settings = models.JSONField(help_text="Strategies, consensus, regimes, duration and risk settings as run.")
    status = models.CharField(max_length=8, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    report = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with progress while it runs: the stale-run sweep fails a RUNNING
    # backtest whose heartbeat stopped for longer than the worker's time limit.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="backtest_status_heartbeat")]

    def __str__(self) -> str:
        return self.name


class BacktestTrade(models.Model):
    """One simulated contract of a backtest, written in bulk when the run ends.

    At most BACKTEST_TRADES_STORED per backtest (the first ones): the report's
    totals and daily breakdown count them all.
    """

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="trades")
    number = models.PositiveIntegerField(help_text="1 for the run's first contract to settle.")
    bought_at = models.DateTimeField()
    settled_at = models.DateTimeField()
    direction = models.CharField(max_length=4)
    stake = models.DecimalField(**MONEY)
    entry = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    exit = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    outcome = models.CharField(max_length=4)
    profit = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["backtest", "number"]
        constraints = [models.UniqueConstraint(fields=["backtest", "number"], name="backtest_trade_number")]

    def __str__(self) -> str:
        return f"{self.backtest_id} #{self.number} {self.outcome}"


# The most simulated contracts kept per backtest: a long run's list pages well up to here.
BACKTEST_TRADES_STORED = 5000
