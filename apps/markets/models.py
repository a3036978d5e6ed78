from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class Source(models.TextChoices):
    OTC = "OTC", "Nexus OTC (synthetic)"
    DERIV = "DERIV", "Deriv"


class VolatilityMode(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"
    SPIKE = "SPIKE", "Spike"


class TieRule(models.TextChoices):
    REFUND = "REFUND", "Equal exit refunds the stake"
    LOSE = "LOSE", "Equal exit loses"


class Market(models.Model):
    symbol = models.SlugField(max_length=32, unique=True, allow_unicode=False)
    name = models.CharField(max_length=80)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.OTC)
    is_active = models.BooleanField(default=True, help_text="Inactive markets get no ticks and accept no trades.")
    decimals = models.PositiveSmallIntegerField(default=4, validators=[MaxValueValidator(6)])
    base_price = models.DecimalField(max_digits=20, decimal_places=6, help_text="Price the generator starts from.")
    volatility_mode = models.CharField(max_length=8, choices=VolatilityMode.choices, default=VolatilityMode.MEDIUM)
    trend_bias = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("-1")), MaxValueValidator(Decimal("1"))],
        help_text="-1 drifts down, 0 is a fair random walk, 1 drifts up.",
    )
    seed = models.BigIntegerField(default=0, help_text="Generator seed: the same seed gives the same series.")
    tick_interval_ms = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(100), MaxValueValidator(60_000)]
    )
    payout_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("80.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("100"))],
        help_text="A winning contract pays stake x (1 + payout %).",
    )
    min_stake = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.35"), validators=[MinValueValidator(Decimal("0.35"))]
    )
    max_stake = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("1000.00"))
    tie_rule = models.CharField(max_length=8, choices=TieRule.choices, default=TieRule.REFUND)

    # When traders with open contracts were last told this market paused.
    paused_notice_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Written only by the feed, with each tick.
    last_price = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.BigIntegerField(default=0)
    # The source's clock minus ours (Deriv's, measured by its feed; 0 for OTC, whose ticks are
    # stamped by our clock): tick times are the source's, so freshness is judged on its clock.
    # 64 bits: an offset past 24 days (2^31 ms; a fake clock in tests) must be stored, not refused.
    clock_offset_ms = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["source", "symbol"]

    def __str__(self) -> str:
        return self.name

    FEED_FIELDS = frozenset({"last_price", "last_tick_at", "last_seq", "clock_offset_ms"})

    def save(self, *args, **kwargs):
        # The feed owns the last_* fields. An edit (admin, seed, shell) saves
        # everything else, so it can never roll a newer tick back.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in self.FEED_FIELDS
            ]
        super().save(*args, **kwargs)

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.max_stake is not None and self.min_stake is not None and self.max_stake < self.min_stake:
            raise ValidationError({"max_stake": "The maximum stake must be at least the minimum stake."})

    @property
    def stale_after(self) -> timedelta:
        seconds = max(settings.NEXUS["STALE_TICK_SECONDS"], 3 * self.tick_interval_ms / 1000)
        return timedelta(seconds=seconds)

    @property
    def is_fresh(self) -> bool:
        """Trading needs a tick newer than the stale window, by the source's clock; otherwise the market is paused."""
        if self.last_tick_at is None:
            return False
        source_now = timezone.now() + timedelta(milliseconds=self.clock_offset_ms)
        return source_now - self.last_tick_at <= self.stale_after

    @property
    def is_tradable(self) -> bool:
        return self.is_active and self.is_fresh

    @property
    def last_tick_ms(self) -> int | None:
        """The last tick's time in epoch milliseconds, as the chart and latency probes read it."""
        return int(self.last_tick_at.timestamp() * 1000) if self.last_tick_at else None

    def format_price(self, price: Decimal | None) -> str:
        if price is None:
            return "—"
        return f"{price:.{self.decimals}f}"


class Tick(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="ticks")
    seq = models.BigIntegerField(help_text="Per-market sequence number, contiguous.")
    time = models.DateTimeField()
    price = models.DecimalField(max_digits=20, decimal_places=6)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "seq"], name="tick_market_seq")]
        indexes = [models.Index(fields=["market", "time"])]
        ordering = ["market", "seq"]

    def __str__(self) -> str:
        return f"{self.market_id}#{self.seq} {self.price}"


class Timeframe(models.IntegerChoices):
    M1 = 60, "1m"
    M5 = 300, "5m"
    M15 = 900, "15m"
    H1 = 3600, "1h"


class Candle(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="candles")
    timeframe = models.PositiveIntegerField(choices=Timeframe.choices)
    start = models.DateTimeField()
    open = models.DecimalField(max_digits=20, decimal_places=6)
    high = models.DecimalField(max_digits=20, decimal_places=6)
    low = models.DecimalField(max_digits=20, decimal_places=6)
    close = models.DecimalField(max_digits=20, decimal_places=6)
    tick_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "timeframe", "start"], name="candle_market_tf_start")]
        ordering = ["market", "timeframe", "start"]

    def __str__(self) -> str:
        return f"{self.market_id} {self.get_timeframe_display()} {self.start:%Y-%m-%d %H:%M}"


class FeedStatus(models.Model):
    """What a feed process reports about itself every few seconds, for staff."""

    source = models.CharField(max_length=8, choices=Source.choices, unique=True)
    heartbeat_at = models.DateTimeField()
    markets = models.PositiveIntegerField(default=0)
    upstream_subscriptions = models.PositiveIntegerField(
        default=0, help_text="Open upstream subscriptions: one per active market, whatever the number of viewers."
    )
    upstream_calls_last_minute = models.PositiveIntegerField(default=0)
    ticks_last_minute = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "feed statuses"

    def __str__(self) -> str:
        return f"{self.source} feed"

    @property
    def is_alive(self) -> bool:
        return timezone.now() - self.heartbeat_at < timedelta(seconds=30)
