"""pytest fixtures around FakeStripe: import `fake_stripe_fixture` into a conftest.py for the `fake_stripe` fixture."""

from contextlib import contextmanager

import pytest

from .server import FakeStripe


@contextmanager
def running_fake_stripe(**options):
    fake = FakeStripe(**options).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(name="fake_stripe")
def fake_stripe_fixture():
    """A fake Stripe whose webhooks wait in `fake_stripe.outbox` (a test posts them with `fake_stripe.signed()`)."""
    with running_fake_stripe() as fake:
        yield fake
