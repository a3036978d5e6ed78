"""Billing's worker tasks."""

from .services import subscriptions_lapse


def lapse_past_due() -> int:
    """Scheduled every minute (migration 0003): past-due subscriptions past their grace period fall back."""
    return subscriptions_lapse()
