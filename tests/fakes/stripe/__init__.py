"""A fake Stripe for tests and local use: the REST calls Nexus makes, a hosted Checkout page and a
customer portal a browser can use, and webhooks signed as Stripe signs them."""

from .server import PRICES, FakeStripe, sign_payload

__all__ = ["PRICES", "FakeStripe", "sign_payload"]
