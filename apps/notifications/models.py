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


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
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
