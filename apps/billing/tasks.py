"""Worker entry points of the billing app."""

from .webhooks import stripe_event_apply

__all__ = ["stripe_event_apply"]
