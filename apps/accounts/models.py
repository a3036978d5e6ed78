from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.ledger.models import LedgerAccount


class AccountType(models.TextChoices):
    DEMO = "DEMO", "Nexus demo"
    DERIV_DEMO = "DERIV_DEMO", "Deriv demo"
    DERIV_REAL = "DERIV_REAL", "Deriv real"


class TradingAccount(models.Model):
    """An account a trader trades from. Its money lives in its ledger account.

    Nexus demo accounts are funded from the demo realm's world account; Deriv
    accounts (linked later) mirror what happens at Deriv, identified by
    `external_id` (Deriv's login id).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trading_accounts")
    type = models.CharField(max_length=12, choices=AccountType.choices, default=AccountType.DEMO)
    label = models.CharField(max_length=60)
    currency = models.CharField(max_length=3, default="USD")
    ledger_account = models.OneToOneField(LedgerAccount, on_delete=models.PROTECT, related_name="trading_account")
    external_id = models.CharField(max_length=40, blank=True)
    is_selected = models.BooleanField(default=False, help_text="The account the trader is trading from now.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(is_selected=True), name="one_selected_account_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.currency})"

    @property
    def balance(self):
        return self.ledger_account.balance

    @property
    def is_demo(self) -> bool:
        return self.type == AccountType.DEMO
