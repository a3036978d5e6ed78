"""Billing on, against the fake Stripe: settings pointed at it and the Basic and Pro plans selling its prices."""

import pytest
from django.urls import reverse

from apps.billing.models import Plan
from tests.fakes.stripe.fixtures import fake_stripe_fixture  # noqa: F401 — the `fake_stripe` fixture

WEBHOOK = "/billing/stripe/webhook/"


@pytest.fixture
def stripe_on(settings, fake_stripe):
    settings.BILLING = {
        **settings.BILLING,
        "STRIPE_SECRET_KEY": fake_stripe.secret_key,
        "STRIPE_WEBHOOK_SECRET": fake_stripe.webhook_secret,
        "STRIPE_API_BASE": fake_stripe.url,
        "DEFAULT_PLAN": "free",
        "GRACE_DAYS": 7,
    }
    for code in ("basic", "pro"):
        Plan.objects.filter(code=code).update(
            stripe_price_monthly=f"price_{code}_month", stripe_price_yearly=f"price_{code}_year"
        )
    return fake_stripe


def post_event(client, fake, event, *, timestamp=None, secret=None, capture=None):
    """POST one event to the webhook as Stripe would; `capture` runs the after-commit work (the apply) too."""
    body, signature = fake.signed(event, timestamp=timestamp, secret=secret)
    if capture is None:
        return client.post(WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    with capture(execute=True):
        return client.post(WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def deliver_all(client, fake, capture, *, reverse_order=False):
    events = fake.take_events()
    if reverse_order:
        events.reverse()
    return [post_event(client, fake, event, capture=capture) for event in events]


def subscribe(client, user, fake, plan="basic", interval="month"):
    """Upgrade and Pay at the fake Checkout; returns the Checkout session (events wait in fake.outbox)."""
    client.force_login(user)
    response = client.post(reverse("billing:upgrade", args=[plan]), {"interval": interval})
    assert response.status_code == 302, response
    session_id = response["Location"].rsplit("/", 1)[1]
    return fake.complete_checkout(session_id)
