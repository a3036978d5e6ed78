"""Receivers of other apps' facts."""

from django.dispatch import receiver

from apps.ledger.signals import ledger_checked

from .checks import revenue_breaches


@receiver(ledger_checked, dispatch_uid="revenue.revenue_breaches")
def check_revenue(sender, **kwargs) -> list[str]:
    return revenue_breaches()
