"""Plans, who is on which, and the Stripe events that change it.

A plan's limits are None for "no limit". The plan in force for a user comes from their
subscription (paid through Stripe, or granted by an admin); without one, or once it has
lapsed past its grace period, it is settings.BILLING["DEFAULT_PLAN"].
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.ledger.models import MONEY


class Plan(models.Model):
    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=60)
    rank = models.PositiveSmallIntegerField(
        unique=True, help_text="Order on the pricing page; higher plans allow more."
    )
    description = models.CharField(max_length=200, blank=True)
    monthly_price = models.DecimalField(**MONEY, null=True, blank=True, help_text="Empty: sold by contact.")
    yearly_price = models.DecimalField(**MONEY, null=True, blank=True, help_text="Empty: sold by contact.")
    currency = models.CharField(max_length=3, default="USD")
    stripe_price_monthly = models.CharField(max_length=100, blank=True, help_text="Stripe price id (price_…).")
    stripe_price_yearly = models.CharField(max_length=100, blank=True, help_text="Stripe price id (price_…).")
    sold_by_contact = models.BooleanField(
        default=False, help_text="No self-service checkout: the page says to contact us."
    )

    # Limits: empty means no limit.
    max_running_bots = models.PositiveIntegerField(null=True, blank=True, help_text="Bots running at once.")
    max_bots = models.PositiveIntegerField(null=True, blank=True, help_text="Bots in total, running or not.")
    max_concurrent_backtests = models.PositiveIntegerField(null=True, blank=True, help_text="Queued or running.")
    max_backtest_days = models.PositiveIntegerField(null=True, blank=True, help_text="Longest backtest, in days.")
    deriv_real_trading = models.BooleanField(default=False, help_text="Link and trade Deriv real-money accounts.")
    live_trading = models.BooleanField(default=False, help_text="Exchange trading with real money (not paper).")
    max_exchange_connections = models.PositiveIntegerField(null=True, blank=True)
    max_open_positions = models.PositiveIntegerField(null=True, blank=True, help_text="Exchange positions at once.")
    max_trades_per_day = models.PositiveIntegerField(null=True, blank=True, help_text="Exchange trades a day.")
    email_alerts = models.BooleanField(default=False, help_text="Notifications by email as well as in the app.")
    history_days = models.PositiveIntegerField(null=True, blank=True, help_text="Trading history kept, in days.")

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class Status(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trial"
    PAST_DUE = "past_due", "Payment failed (past due)"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Cancelled"
    INCOMPLETE = "incomplete", "Waiting for the first payment"
    INCOMPLETE_EXPIRED = "incomplete_expired", "First payment never made"
    PAUSED = "paused", "Paused"


class Source(models.TextChoices):
    STRIPE = "STRIPE", "Stripe subscription"
    GRANT = "GRANT", "Granted by an admin"


class Subscription(models.Model):
    """A user's billing state: their Stripe customer, and the plan they pay for or were granted."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="subscriptions")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.STRIPE)
    status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    stripe_price_id = models.CharField(max_length=100, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    past_due_since = models.DateTimeField(null=True, blank=True, help_text="When a payment first failed.")
    # When the plan fell back to the default after the grace period (told once per past-due episode).
    lapsed_at = models.DateTimeField(null=True, blank=True, help_text="When the grace period ended unpaid.")
    # The last Stripe state applied (its `created`/event time): an older event never overwrites it.
    stripe_synced_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_customer_id"], condition=~Q(stripe_customer_id=""), name="billing_one_user_per_customer"
            ),
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~Q(stripe_subscription_id=""),
                name="billing_one_user_per_subscription",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.plan or '—'} ({self.status or 'none'})"


class StripeEvent(models.Model):
    """Each Stripe webhook event, stored once by its id when it arrives and applied by the worker."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
