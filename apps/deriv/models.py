"""A trader's link to Deriv (tokens, encrypted) and the Deriv accounts it brought in.

Tokens are stored only as Fernet ciphertext (see `crypto`); allauth's own
SocialToken table is not used (SOCIALACCOUNT_STORE_TOKENS = False). Neither
model's repr, str or admin shows a token.
"""

from django.conf import settings
from django.db import models

from apps.accounts.models import TradingAccount

from . import crypto


class Connection(models.TextChoices):
    CONNECTED = "CONNECTED", "Connected"
    # Deriv refused the link's token (expired, revoked, missing scope) or rate-limited it.
    DISCONNECTED = "DISCONNECTED", "Disconnected"
    # The trader unlinked Deriv: the account stays for its history, nothing reaches Deriv.
    UNLINKED = "UNLINKED", "Unlinked"


class DerivLink(models.Model):
    """One per trader: the OAuth tokens Deriv issued for all of the trader's Deriv accounts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deriv_link")
    social_account = models.OneToOneField(
        "socialaccount.SocialAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    access_token_encrypted = models.TextField(help_text="Fernet ciphertext; never shown.")
    refresh_token_encrypted = models.TextField(blank=True, help_text="Fernet ciphertext; never shown.")
    expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=200, blank=True)
    connection = models.CharField(max_length=12, choices=Connection.choices, default=Connection.CONNECTED)
    reason = models.CharField(max_length=200, blank=True)
    connection_changed_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Deriv link of {self.user} ({self.get_connection_display()})"

    def __repr__(self) -> str:
        return f"<DerivLink {self.pk} user={self.user_id} {self.connection}>"

    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted)

    @property
    def refresh_token(self) -> str | None:
        return crypto.decrypt(self.refresh_token_encrypted) if self.refresh_token_encrypted else None

    @property
    def is_connected(self) -> bool:
        return self.connection == Connection.CONNECTED


class DerivAccount(models.Model):
    """The Deriv side of a DERIV_DEMO / DERIV_REAL trading account."""

    trading_account = models.OneToOneField(TradingAccount, on_delete=models.CASCADE, related_name="deriv")
    link = models.ForeignKey(DerivLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts")
    # Deriv's own status of the account: active | inactive.
    status = models.CharField(max_length=12, blank=True)
    connection = models.CharField(max_length=12, choices=Connection.choices, default=Connection.CONNECTED)
    reason = models.CharField(max_length=200, blank=True)
    balance_source = models.CharField(max_length=20, blank=True, help_text="Where the last balance came from.")
    balance_at = models.DateTimeField(null=True, blank=True)
    # Staff deactivate instead of deleting (history stays): unlinked for good,
    # even when Deriv still lists the account at the next sync.
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Deriv account"

    def __str__(self) -> str:
        return f"{self.trading_account.external_id} ({self.get_connection_display()})"

    @property
    def is_live(self) -> bool:
        return self.connection == Connection.CONNECTED and self.status == "active"

    @property
    def state_label(self) -> str:
        """One word for the switcher: live, inactive (at Deriv), disconnected or unlinked."""
        if self.connection != Connection.CONNECTED:
            return self.get_connection_display().lower()
        return "live" if self.status == "active" else "inactive"
