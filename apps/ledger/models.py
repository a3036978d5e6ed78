"""Double-entry ledger.

Every movement of money is one Transfer from a debit account to a credit
account, recorded as two append-only Entries (-amount, +amount). Each
LedgerAccount caches its balance, updated in the same transaction as the
entries. Corrections are new transfers; nothing is edited or deleted.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.models import AppendOnlyModel

MONEY = {"max_digits": 20, "decimal_places": 2}
# Fiat currencies move in cents; crypto assets (a spot exchange's BTC, USDT...) in up to eight places.
FIAT_CURRENCIES = frozenset({"USD", "EUR", "GBP", "AUD", "CAD", "CHF", "JPY"})
CRYPTO_PLACES = 8


def currency_places(currency: str) -> int:
    """Decimal places the ledger keeps for `currency`: 2 for fiat money, 8 for a crypto asset."""
    return 2 if currency in FIAT_CURRENCIES else CRYPTO_PLACES


class LedgerAmountField(models.DecimalField):
    """An amount in any currency, stored with eight places and read back with its currency's scale.

    A cent amount reads back as `10.00`, a crypto amount as many places as it needs (`0.00123`),
    so fiat money looks as it always did whatever the column's scale.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 28)
        kwargs.setdefault("decimal_places", CRYPTO_PLACES)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return None if value is None else scaled(value)


def scaled(value) -> Decimal:
    """`value` with two places if it is a whole number of cents, else with its significant places."""
    value = Decimal(value)
    cents = value.quantize(Decimal("0.01"))
    if cents == value:
        return cents
    return value.quantize(Decimal(1).scaleb(-CRYPTO_PLACES)).normalize()


class Realm(models.TextChoices):
    """Demo money and real money never meet: each realm is its own set of books."""

    DEMO = "DEMO", "Demo"
    REAL = "REAL", "Real"
    # Deriv's demo money: neither Nexus's demo money nor real money.
    DERIV_DEMO = "DERIV_DEMO", "Deriv demo"
    # Paper trading on a spot exchange: simulated fills, simulated balances.
    PAPER = "PAPER", "Paper exchange"
    # A trader's balances held at a real spot exchange, mirrored from its fills.
    EXCHANGE = "EXCHANGE", "Exchange"


class AccountKind(models.TextChoices):
    USER = "USER", "User"
    ESCROW = "ESCROW", "Escrow"
    HOUSE = "HOUSE", "House"
    REVENUE = "REVENUE", "Platform revenue"
    # A partner's markup on their referred traders' profits, one per partner, realm and currency.
    PARTNER = "PARTNER", "Partner earnings"
    WORLD = "WORLD", "World (issuance)"
    # The other side of every Deriv account: balances at Deriv come from (and go back to) it.
    DERIV = "DERIV", "Deriv world"
    # The other side of a spot exchange connection's balances: what it bought from and sold to.
    EXCHANGE = "EXCHANGE", "Exchange world"
    # Trading fees an exchange charged, per realm and asset.
    FEES = "FEES", "Exchange fees"


class TransferKind(models.TextChoices):
    ISSUE = "ISSUE", "Demo funds issued"
    RESET = "RESET", "Demo balance reset"
    STAKE = "STAKE", "Contract stake"
    PAYOUT = "PAYOUT", "Contract payout"
    REFUND = "REFUND", "Contract refund"
    LOSS = "LOSS", "Contract lost"
    DEPOSIT = "DEPOSIT", "Deposit"
    WITHDRAWAL = "WITHDRAWAL", "Withdrawal"
    FEE = "FEE", "Fee"
    COMMISSION = "COMMISSION", "Platform commission"
    MARKUP = "MARKUP", "Partner markup"
    ADJUSTMENT = "ADJUSTMENT", "Adjustment"
    FILL = "FILL", "Exchange fill"


class LedgerAccount(models.Model):
    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=AccountKind.choices, db_index=True)
    realm = models.CharField(max_length=10, choices=Realm.choices)
    currency = models.CharField(max_length=10)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    balance = LedgerAmountField(default=Decimal("0.00"))
    # Only the worlds and the house may run a negative balance: a world is
    # where issued money comes from, the house pays winnings before it earns.
    allow_negative = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0),
                name="ledger_account_non_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.realm} {self.currency})"


class Transfer(AppendOnlyModel):
    # Unique and indexed through Meta, not the fields: on PostgreSQL a field's unique or db_index also
    # builds a varchar_pattern_ops index for LIKE lookups, which nothing runs on these two and
    # which every transfer written (tens of thousands per settlement) would pay for.
    idempotency_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=TransferKind.choices)
    debit = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="debits")
    credit = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="credits")
    amount = LedgerAmountField()
    currency = models.CharField(max_length=10)
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_transfer_positive"),
            models.CheckConstraint(condition=~Q(debit=models.F("credit")), name="ledger_transfer_two_accounts"),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_transfer_idempotency_key"),
        ]
        indexes = [models.Index(fields=["kind"], name="ledger_transfer_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.idempotency_key})"


class Entry(AppendOnlyModel):
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="entries")
    # Indexed by entry_account_created, which starts with it.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount = LedgerAmountField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "entries"
        # An account's movements by day: the dashboard's equity curve reads a range of them.
        indexes = [models.Index(fields=["account", "created_at", "amount"], name="entry_account_created")]

    def __str__(self) -> str:
        return f"{self.account.code} {self.amount:+}"
