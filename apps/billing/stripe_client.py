"""Every call Nexus makes to Stripe, through the official `stripe` package.

The client is built per call from settings.BILLING (key and API base: Stripe itself, or the fake in
tests/fakes/stripe), never from module globals, and the key is never logged. Every failure to talk to
Stripe becomes `StripeUnavailable`, whose message a page can show as is.
"""

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .models import Plan, Subscription

logger = logging.getLogger(__name__)

INTERVALS = ("month", "year")
# Clicks on the same Subscribe button within this window open the same Checkout session.
CHECKOUT_WINDOW_S = 600


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the call; nothing was changed on our side."""


@dataclass(frozen=True)
class Invoice:
    number: str
    status: str
    amount_paid: str
    currency: str
    created: datetime
    url: str


def client() -> stripe.StripeClient:
    billing = settings.BILLING
    return stripe.StripeClient(
        billing["STRIPE_SECRET_KEY"],
        base_addresses={"api": billing["STRIPE_API_BASE"]},
        max_network_retries=1,
    )


def _call(what: str, call):
    try:
        return call()
    except stripe.StripeError as exc:
        # The exception's text never carries the key; its class and status say what went wrong.
        logger.warning("Stripe %s failed: %s (HTTP %s)", what, type(exc).__name__, getattr(exc, "http_status", None))
        if isinstance(exc, stripe.APIConnectionError):
            message = "Stripe is unreachable right now; nothing was charged or changed. Try again."
        else:
            message = "Stripe could not do this right now; nothing was charged or changed. Try again later."
        raise StripeUnavailable(message) from exc


def price_for(plan: Plan, interval: str) -> str:
    return plan.stripe_price_monthly if interval == "month" else plan.stripe_price_yearly


def _stamp(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch else None


def customer_ensure(user) -> str:
    """The user's Stripe customer id, created once.

    The row is locked while the customer is made, and the idempotency key is the user's id: two
    requests at once, or a retry after a lost answer, get the same customer from Stripe.
    """
    with transaction.atomic():
        subscription, _ = Subscription.objects.select_for_update().get_or_create(user=user)
        if subscription.stripe_customer_id:
            return subscription.stripe_customer_id
        customer = _call(
            "customer create",
            lambda: client().v1.customers.create(
                params={"email": user.email, "metadata": {"user_id": str(user.pk)}},
                options={"idempotency_key": f"nexus-customer-{user.pk}"},
            ),
        )
        subscription.stripe_customer_id = customer.id
        subscription.save(update_fields=["stripe_customer_id", "updated_at"])
        return customer.id


def checkout_session_open(user, plan: Plan, interval: str, *, success_url: str, cancel_url: str) -> str:
    """The URL of a Checkout session selling `plan` by `interval`; a second click reuses the open one."""
    price = price_for(plan, interval)
    customer = customer_ensure(user)
    remembered = f"billing:checkout:{user.pk}:{price}"
    if session_id := cache.get(remembered):
        try:
            session = client().v1.checkout.sessions.retrieve(session_id)
            if session.status == "open":
                return session.url
        except stripe.StripeError:
            pass  # make a new one below
    # Within one window the same user, price and subscription state give the same key, so a double
    # click gets the same session back; a session that is no longer open (paid or expired) is not reused.
    state = Subscription.objects.filter(user=user).values_list("stripe_subscription_id", flat=True).first() or ""
    bucket = int(time.time() // CHECKOUT_WINDOW_S)
    key = hashlib.sha256(f"nexus-checkout:{user.pk}:{price}:{state}:{bucket}".encode()).hexdigest()
    params = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(user.pk),
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": {"user_id": str(user.pk), "plan": plan.code},
    }
    create = client().v1.checkout.sessions.create
    session = _call("checkout session create", lambda: create(params=params, options={"idempotency_key": key}))
    # A replayed key answers the session as it was first made: ask for it as it is now.
    if _call("checkout session retrieve", lambda: client().v1.checkout.sessions.retrieve(session.id)).status != "open":
        retry = f"{key}:{session.id}"
        session = _call("checkout session create", lambda: create(params=params, options={"idempotency_key": retry}))
    cache.set(remembered, session.id, CHECKOUT_WINDOW_S)
    return session.url


def checkout_session_get(session_id: str):
    return _call("checkout session retrieve", lambda: client().v1.checkout.sessions.retrieve(session_id))


def subscription_get(subscription_id: str):
    return _call("subscription retrieve", lambda: client().v1.subscriptions.retrieve(subscription_id))


def subscription_cancel(subscription_id: str):
    return _call("subscription cancel", lambda: client().v1.subscriptions.cancel(subscription_id))


def portal_session_url(customer_id: str, *, return_url: str) -> str:
    portal = _call(
        "portal session create",
        lambda: client().v1.billing_portal.sessions.create(params={"customer": customer_id, "return_url": return_url}),
    )
    return portal.url


def invoices_list(customer_id: str, *, limit: int = 24) -> list[Invoice]:
    found = _call("invoice list", lambda: client().v1.invoices.list(params={"customer": customer_id, "limit": limit}))
    return [
        Invoice(
            number=invoice.number or invoice.id,
            status=invoice.status or "",
            amount_paid=f"{invoice.amount_paid / 100:,.2f}",
            currency=(invoice.currency or "").upper(),
            created=_stamp(invoice.created),
            url=invoice.hosted_invoice_url or "",
        )
        for invoice in found.data
    ]


def subscription_state(subscription) -> dict:
    """The fields we keep from Stripe's subscription object (the period end is its first item's)."""
    items = subscription["items"].data
    item = items[0] if items else None
    return {
        "stripe_subscription_id": subscription.id,
        "status": subscription.status,
        "stripe_price_id": item.price.id if item else "",
        "current_period_end": _stamp(getattr(item, "current_period_end", None) if item else None),
        "cancel_at_period_end": bool(subscription.cancel_at_period_end),
    }
