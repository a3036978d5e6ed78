from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import TradingAccount
from apps.ledger.models import MONEY
from apps.markets.models import Market, TieRule


class Direction(models.TextChoices):
    RISE = "RISE", "Rise"
    FALL = "FALL", "Fall"


class DurationUnit(models.TextChoices):
    TICKS = "t", "ticks"
    MINUTES = "m", "minutes"


class Status(models.TextChoices):
    OPEN = "OPEN", "Open"
    WON = "WON", "Won"
    LOST = "LOST", "Lost"
    TIE = "TIE", "Tie"
    VOID = "VOID", "Void (no price, refunded)"
    # Deriv contracts only: the stake is mirrored into escrow and the order is
    # on its way to Deriv (or its answer is not known yet).
    PENDING = "PENDING", "Sent to Deriv"
    # Deriv refused the order (or never took it): the mirrored stake went back.
    REFUSED = "REFUSED", "Refused by Deriv (refunded)"


# Contracts whose stake sits in escrow.
HELD = (Status.OPEN, Status.PENDING)


TICK_DURATIONS = range(1, 11)
MINUTE_DURATIONS = (1, 5, 15, 30, 60)


def duration_error(duration: int, unit: str) -> str | None:
    """Why a contract cannot last `duration` `unit`s, or None: the same words for a trade, a bot and a backtest."""
    if unit == DurationUnit.TICKS:
        return None if duration in TICK_DURATIONS else "Tick contracts last 1 to 10 ticks."
    if unit == DurationUnit.MINUTES:
        return None if duration in MINUTE_DURATIONS else "Choose 1, 5, 15, 30 or 60 minutes."
    return "Choose ticks or minutes."


class Contract(models.Model):
    """A Rise/Fall contract.

    Entry spot: the first tick after purchase (seq = purchase_seq + 1).
    Exit spot: tick entry + N for tick durations, else the last tick at or
    before `expires_at`. Payout, fixed at purchase: stake x (1 + payout %).

    A contract bought on a Deriv account (`at_deriv`) lives at Deriv: it is
    PENDING until Deriv answers the `buy` (then OPEN with Deriv's contract id,
    price and payout, or REFUSED and refunded), and it is settled from Deriv's
    own result, never from our ticks (see apps.trading.services.venue).
    """

    # Both indexed by the composite indexes and the unique constraint that start with them (Meta).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contracts", db_index=False
    )
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="contracts", db_index=False)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="contracts")
    direction = models.CharField(max_length=4, choices=Direction.choices)
    stake = models.DecimalField(**MONEY)
    payout_percent = models.DecimalField(max_digits=5, decimal_places=2)
    payout = models.DecimalField(**MONEY, help_text="What a win pays back, stake included.")
    tie_rule = models.CharField(max_length=8, choices=TieRule.choices)
    duration = models.PositiveSmallIntegerField()
    duration_unit = models.CharField(max_length=1, choices=DurationUnit.choices)
    idempotency_key = models.CharField(max_length=64)

    purchased_at = models.DateTimeField()
    purchase_seq = models.BigIntegerField(help_text="The market's last tick when bought; entry is the next one.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="For time durations.")

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    entry_spot = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    entry_time = models.DateTimeField(null=True, blank=True)
    exit_spot = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    exit_time = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    amount_paid = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Paid back at settlement, after commission and markup."
    )
    # Shares of a win's profit, fixed at purchase (apps.revenue): the rates in force then, and what a win
    # pays of them. Once settled, what was charged: nothing on a contract that did not win.
    commission_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0, db_default=0)
    markup_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0, db_default=0)
    partner = models.ForeignKey(
        "revenue.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Earns the markup.",
    )
    commission = models.DecimalField(**MONEY, default=0, db_default=0, help_text="Platform commission on a win.")
    markup = models.DecimalField(**MONEY, default=0, db_default=0, help_text="Partner markup on a win.")
    notify_result = models.BooleanField(
        default=True, help_text="Tell the trader the result (bots' contracts show on the bot's page instead)."
    )

    # Deriv contracts: bought at Deriv from a Deriv account, mirrored here.
    at_deriv = models.BooleanField(default=False, db_default=False, help_text="Bought at Deriv, settled by Deriv.")
    deriv_contract_id = models.BigIntegerField(null=True, blank=True, help_text="Deriv's contract id.")
    deriv_transaction_id = models.BigIntegerField(null=True, blank=True, help_text="Deriv's buy transaction.")
    deriv_buy_price = models.DecimalField(**MONEY, null=True, blank=True, help_text="What Deriv charged.")
    deriv_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the buy went to Deriv; never sent twice (reconciled instead)."
    )
    deriv_app_markup = models.DecimalField(
        max_digits=20,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="The app markup Deriv reports it charged: Nexus's revenue at Deriv.",
    )
    deriv_commission = models.DecimalField(
        max_digits=20, decimal_places=6, null=True, blank=True, help_text="Deriv's own commission, as Deriv reports it."
    )
    deriv_note = models.CharField(
        max_length=200, blank=True, db_default="", default="", help_text="Why Deriv refused, in a trader's words."
    )

    class Meta:
        ordering = ["-purchased_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="contract_user_idempotency"),
            models.CheckConstraint(condition=Q(stake__gt=0), name="contract_stake_positive"),
            # Each Deriv contract is recorded once.
            models.UniqueConstraint(
                fields=["deriv_contract_id"],
                condition=Q(deriv_contract_id__isnull=False),
                name="contract_deriv_contract_once",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "market"]),
            models.Index(fields=["account", "status", "-purchased_at"]),
            # The dashboard's figures over a range of days (apps.dashboard.selectors), read from the index alone.
            models.Index(
                fields=["account", "settled_at", "status", "market", "stake", "amount_paid"],
                name="contract_account_settled",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_direction_display()} {self.market_id} {self.stake}"

    @property
    def profit(self):
        """Net profit: what the trader got back (after commission and markup) less the stake."""
        if self.amount_paid is None:
            return None
        return self.amount_paid - self.stake

    @property
    def fees(self) -> Decimal:
        return self.commission + self.markup

    @property
    def gross_paid(self):
        """What the contract paid before commission and markup."""
        if self.amount_paid is None:
            return None
        return self.amount_paid + self.fees

    @property
    def net_payout(self) -> Decimal:
        """What a win pays the trader, after commission and markup."""
        return self.payout - self.fees

    @property
    def is_pending(self) -> bool:
        return self.status == Status.PENDING

    @property
    def exit_seq(self) -> int | None:
        if self.duration_unit == DurationUnit.TICKS:
            return self.purchase_seq + 1 + self.duration
        return None

    @property
    def duration_label(self) -> str:
        unit = self.get_duration_unit_display()
        return f"{self.duration} {unit[:-1] if self.duration == 1 else unit}"
