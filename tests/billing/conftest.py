from tests.billing.stripe_support import fake_stripe_fixture, stripe_on  # noqa: F401 — fixtures for the billing tests
