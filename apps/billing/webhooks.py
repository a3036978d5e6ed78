"""Stripe's webhooks: received (verified, stored once by id) at once, applied by the worker.

Applying never trusts the event's copy of the subscription: it retrieves the subscription from Stripe
and stores that, so an event that arrives twice, late or out of order converges on Stripe's state.
"""

import logging

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from apps.audit.services import audit_log

from . import stripe_client
from .entitlements import in_force, plan_in_force
from .models import Plan, Source, Status, StripeEvent, Subscription
from .services import subscription_plan_changed

logger = logging.getLogger(__name__)

TOLERANCE_S = 300
HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
LIVE = frozenset({Status.ACTIVE, Status.TRIALING, Status.PAST_DUE})


class BadWebhook(Exception):
    """Not from Stripe (bad signature, stale timestamp, not JSON): answer 400, store nothing."""


def stripe_event_receive(payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery; (event, created). The worker applies it once it is committed.

    A repeat of an event still unapplied (the first delivery could not be queued) is queued again.
    Raises `NotQueued` when the broker is out of reach: the answer is then an error, so Stripe delivers
    the event again later.
    """
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, settings.BILLING["STRIPE_WEBHOOK_SECRET"], tolerance=TOLERANCE_S
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadWebhook(str(exc)) from exc
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(event_id=event.id, type=event.type, payload=event.to_dict())
        created = True
    except IntegrityError:
        stored, created = StripeEvent.objects.get(event_id=event.id), False
    if stored.applied_at is None and (created or not stored.error):
        # The view runs in autocommit: the row above is committed by now, so the worker finds it.
        _enqueue(stored.pk)
    return stored, created


class NotQueued(Exception):
    """The event is stored but the worker could not be told: Stripe should deliver it again."""


def _enqueue(event_pk: int) -> None:
    try:
        async_task("apps.billing.tasks.stripe_event_apply", event_pk, group="billing")
    except Exception as exc:
        logger.warning("Stripe event %s stored but not queued; Stripe will deliver it again", event_pk, exc_info=True)
        raise NotQueued from exc


def _mark(event: StripeEvent, *, error: str = "") -> None:
    event.error = error[:300]
    event.applied_at = None if error else timezone.now()
    event.save(update_fields=["error", "applied_at"])
    if error:
        logger.warning("Stripe event %s (%s) not applied: %s", event.event_id, event.type, error)


def _ids(event: StripeEvent) -> tuple[str, str, str]:
    """(customer id, subscription id, user id from client_reference_id) the event is about."""
    obj = event.payload.get("data", {}).get("object", {})
    if event.type == "checkout.session.completed":
        return obj.get("customer") or "", obj.get("subscription") or "", obj.get("client_reference_id") or ""
    if event.type.startswith("customer.subscription."):
        return obj.get("customer") or "", obj.get("id") or "", ""
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return obj.get("customer") or "", details.get("subscription") or "", ""


def _row_for(customer: str, user_id: str) -> Subscription | None:
    """The user's billing row: by Stripe customer, or (checkout only) by the user the session was opened for."""
    row = Subscription.objects.select_for_update().filter(stripe_customer_id=customer).first() if customer else None
    if row is None and user_id.isdigit():
        row = Subscription.objects.select_for_update().filter(user_id=int(user_id)).first()
        if row is not None and row.stripe_customer_id not in ("", customer):
            return None
    return row


def _plan_for_price(price: str) -> Plan | None:
    if not price:
        return None
    return Plan.objects.filter(Q(stripe_price_monthly=price) | Q(stripe_price_yearly=price)).first()


def stripe_event_apply(event_pk: int) -> None:
    """Apply one stored event (nothing if already applied); a Stripe outage raises, so the worker retries."""
    event = StripeEvent.objects.get(pk=event_pk)
    if event.applied_at is not None:
        return
    if event.type not in HANDLED:
        _mark(event)
        return
    customer, subscription_id, user_id = _ids(event)
    if not subscription_id:
        _mark(event)  # an invoice outside any subscription: nothing of ours changes
        return
    try:
        remote = stripe_client.subscription_get(subscription_id)
    except stripe_client.StripeUnavailable:
        event.error = "Stripe unreachable while applying; the worker retries."
        event.save(update_fields=["error"])
        raise
    state = stripe_client.subscription_state(remote)
    customer = customer or remote.customer
    with transaction.atomic():
        row = _row_for(customer, user_id)
        if row is None:
            _mark(event, error=f"unknown customer {customer}")
            return
        plan = _plan_for_price(state["stripe_price_id"])
        if plan is None:
            _mark(event, error=f"unknown price id {state['stripe_price_id'] or '(none)'}")
            return
        if not _adopts(row, state):
            _mark(event)  # an older subscription of this customer's, ended or replaced: ours stays
            return
        _apply_state(row, plan, state, customer)
        _mark(event)


def _adopts(row: Subscription, state: dict) -> bool:
    """Whether this Stripe subscription is (or becomes) the one the user's plan follows."""
    if row.stripe_subscription_id in ("", state["stripe_subscription_id"]):
        return True
    return state["status"] in LIVE or row.status not in LIVE


def _apply_state(row: Subscription, plan: Plan, state: dict, customer: str) -> None:
    user = row.user
    old_plan = plan_in_force(user)
    if row.source == Source.GRANT and in_force(row) and state["status"] not in LIVE:
        # An admin's grant in force outranks a Stripe subscription that is not live.
        row.stripe_customer_id = customer
        row.save(update_fields=["stripe_customer_id", "updated_at"])
        return
    before = {"plan": row.plan.code if row.plan else "", "status": row.status}
    now = timezone.now()
    row.plan = plan
    row.source = Source.STRIPE
    row.stripe_customer_id = customer
    for name, value in state.items():
        setattr(row, name, value)
    if row.status == Status.PAST_DUE:
        row.past_due_since = row.past_due_since or now
    else:
        row.past_due_since = None
    row.stripe_synced_at = now
    row.save()
    new_plan = plan_in_force(user)
    after = {"plan": plan.code, "status": row.status}
    if before != after:
        audit_log(actor=None, action="billing.subscription_synced", target=row, data={"old": before, "new": after})
    why = "" if new_plan.rank > old_plan.rank else f"Your Stripe subscription is {row.get_status_display().lower()}."
    subscription_plan_changed(user_id=user.pk, old=old_plan, new=new_plan, why=why)


def stripe_subscription_cancel_for(user) -> bool:
    """Cancel the user's live Stripe subscription at Stripe now (before their account goes); False if none."""
    row = Subscription.objects.filter(user=user).first()
    if row is None or not row.stripe_subscription_id or row.status not in LIVE:
        return False
    if not settings.BILLING["STRIPE_SECRET_KEY"]:
        logger.warning("user %s has a live Stripe subscription but billing is off: not cancelled", user.pk)
        return False
    stripe_client.subscription_cancel(row.stripe_subscription_id)
    audit_log(actor=None, action="billing.subscription_cancelled", target=row, data={"why": "account deleted"})
    return True
