from django.conf import settings
from django.db import models


class Kind(models.TextChoices):
    CONTRACT_WON = "CONTRACT_WON", "Contract won"
    CONTRACT_LOST = "CONTRACT_LOST", "Contract lost"
    CONTRACT_REFUNDED = "CONTRACT_REFUNDED", "Contract refunded"
    DEMO_RESET = "DEMO_RESET", "Demo balance reset"
    MARKET_PAUSED = "MARKET_PAUSED", "Trading paused"
    BOT_STOPPED = "BOT_STOPPED", "Bot stopped"
    # One a day per partner: the markup their referred traders' wins paid the day before.
    PARTNER_EARNINGS = "PARTNER_EARNINGS", "Partner earnings"
    PLAN_CHANGED = "PLAN_CHANGED", "Plan changed"
    LOW_BALANCE = "LOW_BALANCE", "Low balance"
    SECURITY = "SECURITY", "Security"
    DERIV_DISCONNECTED = "DERIV_DISCONNECTED", "Deriv disconnected"
    DAILY_SUMMARY = "DAILY_SUMMARY", "Daily summary"


class Notification(models.Model):
    # Indexed by (user, read_at) in Meta.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=120)
    body = models.CharField(max_length=500, blank=True)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"

    @property
    def is_win(self) -> bool:
        return self.kind == Kind.CONTRACT_WON


# --- Email: preferences, outbox, alert state --------------------------------------------------------------


class Topic(models.TextChoices):
    """What a trader chooses how to hear about (one preference each); several notification kinds share one."""

    CONTRACT_RESULTS = "contract_results", "Contract results"
    BOT_STOPPED = "bot_stopped", "Bot stopped"
    DAILY_SUMMARY = "daily_summary", "Daily summary"
    LOW_BALANCE = "low_balance", "Low balance"
    DERIV = "deriv", "Deriv connection"
    SECURITY = "security", "Security"
    PARTNER_EARNINGS = "partner_earnings", "Partner earnings"
    PLAN_BILLING = "plan_billing", "Plan and billing"


class Channel(models.TextChoices):
    OFF = "off", "Off"
    IN_APP = "in_app", "In the app"
    EMAIL = "email", "In the app and by email"


class NotificationPreferences(models.Model):
    """One row per trader who changed anything; a trader without one has the field defaults.

    Security can be lowered to in-app but never off (the form and the service refuse it).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_prefs")
    contract_results = models.CharField(max_length=8, choices=Channel.choices, default=Channel.IN_APP)
    bot_stopped = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    daily_summary = models.CharField(max_length=8, choices=Channel.choices, default=Channel.OFF)
    low_balance = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    deriv = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    security = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    partner_earnings = models.CharField(max_length=8, choices=Channel.choices, default=Channel.IN_APP)
    plan_billing = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    low_balance_threshold = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, help_text="Empty: no low-balance alert."
    )
    # The trader's local date of the last daily summary: claimed before it is written, so never two a day.
    digest_sent_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class LowBalanceAlert(models.Model):
    """A trading account below its trader's threshold, alerted once; deleted when it is back above (re-armed)."""

    account_id = models.PositiveBigIntegerField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"account {self.account_id} below threshold"


class OutboxStatus(models.TextChoices):
    PENDING = "PENDING", "Waiting"
    SENDING = "SENDING", "Sending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"


class OutboxEmail(models.Model):
    """An email written in the transaction of the event that causes it, sent by the worker after commit.

    A worker claims a row with one conditional update (PENDING and due → SENDING), so two workers never
    send it twice; a failure puts it back with a later `next_attempt_at` (exponential backoff) until
    OUTBOX_MAX_ATTEMPTS, then it stays FAILED for staff (admin action "send again").
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    to = models.EmailField()
    topic = models.CharField(max_length=20, blank=True)
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]
        verbose_name = "outbox email"

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"


class SilenceAlert(models.Model):
    """The dead-man's switch's memory: one row per watched process while it is silent, so staff hear once."""

    check_name = models.CharField(max_length=60, unique=True)
    problem = models.CharField(max_length=300)
    since = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.check_name}: {self.problem}"


class KnownBrowser(models.Model):
    """A browser a trader has signed in from (a random key in a long-lived cookie, stored hashed).

    A sign-in from a browser not seen before, by a trader who has signed in elsewhere, is a security notice.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key_hash = models.CharField(max_length=64)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key_hash"], name="known_browser_once")]

    def __str__(self) -> str:
        return f"browser of {self.user_id}"
