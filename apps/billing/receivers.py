"""Billing follows other apps' facts."""

from django.conf import settings
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from .webhooks import stripe_subscription_cancel_for


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="billing.cancel_before_user_delete")
def subscription_cancel_before_user_delete(sender, instance, **kwargs) -> None:
    """A user deleted (today only by an admin) stops paying first: their live Stripe subscription is cancelled.

    Stripe unreachable raises `StripeUnavailable`, so the deletion (one transaction) does not happen and
    nobody keeps being charged for an account that is gone.
    """
    stripe_subscription_cancel_for(instance)
