"""Buying a plan through Stripe: Upgrade → Checkout → back to the billing page; the portal; the webhook."""

import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import stripe_client
from .models import Plan, Subscription
from .selectors import billing_enabled, billing_summary
from .webhooks import LIVE, BadWebhook, NotQueued, stripe_event_receive

logger = logging.getLogger(__name__)


def _pricing_with(plan_code: str = "") -> str:
    url = reverse("billing:pricing")
    return f"{url}?plan={plan_code}#plan-{plan_code}" if plan_code else url


@login_required
@require_POST
def upgrade(request: HttpRequest, code: str) -> HttpResponse:
    """Open Stripe Checkout for `code` by month or year; a trader already paying changes plan in the portal."""
    plan = get_object_or_404(Plan, code=code)
    interval = request.POST.get("interval") or request.GET.get("interval") or "month"
    if not billing_enabled():
        messages.error(request, "Plans are not on sale on this installation.")
        return redirect(_pricing_with(code))
    if interval not in stripe_client.INTERVALS:
        messages.error(request, "Choose monthly or yearly billing.")
        return redirect(_pricing_with(code))
    if plan.sold_by_contact or not stripe_client.price_for(plan, interval):
        messages.error(request, f"The {plan.name} plan is not sold online: contact us to buy it.")
        return redirect(_pricing_with(code))
    current = Subscription.objects.filter(user=request.user).first()
    try:
        if current and current.stripe_subscription_id and current.status in LIVE:
            return redirect(
                stripe_client.portal_session_url(
                    current.stripe_customer_id, return_url=request.build_absolute_uri(reverse("billing:billing"))
                )
            )
        url = stripe_client.checkout_session_open(
            request.user,
            plan,
            interval,
            success_url=request.build_absolute_uri(reverse("billing:billing")) + "?checkout={CHECKOUT_SESSION_ID}",
            cancel_url=request.build_absolute_uri(reverse("billing:checkout_cancelled")) + f"?plan={plan.code}",
        )
    except stripe_client.StripeUnavailable as exc:
        messages.error(request, str(exc))
        return redirect(_pricing_with(code))
    return redirect(url)


@login_required
@require_GET
def checkout_cancelled(request: HttpRequest) -> HttpResponse:
    messages.info(request, "Checkout was cancelled; nothing changed.")
    return redirect(_pricing_with(request.GET.get("plan", "")[:30]))


def _activating(request: HttpRequest, session_id: str) -> bool:
    """Whether to say "Activating your plan…": the session is this user's and its subscription is not applied yet."""
    if not session_id:
        return False
    try:
        session = stripe_client.checkout_session_get(session_id)
    except stripe_client.StripeUnavailable as exc:
        if isinstance(exc.__cause__, stripe.InvalidRequestError):
            raise Http404 from exc  # no such session
        return True  # the push still switches the page once the webhook is applied
    if session.client_reference_id != str(request.user.pk):
        raise Http404
    if session.status != "complete" or not session.subscription:
        return False  # not paid (still open, or expired): nothing to wait for
    return not Subscription.objects.filter(
        user=request.user, stripe_subscription_id=session.subscription, stripe_synced_at__isnull=False
    ).exists()


@login_required
@require_GET
def billing(request: HttpRequest) -> HttpResponse:
    """The plan in force, the subscription's state, Stripe's invoices and Manage billing."""
    summary = billing_summary(request.user)
    invoices, invoices_error = [], ""
    enabled = billing_enabled()
    activating = False
    if enabled:
        activating = _activating(request, request.GET.get("checkout", "")[:200])
        if summary["customer"]:
            customer = Subscription.objects.get(user=request.user).stripe_customer_id
            try:
                invoices = stripe_client.invoices_list(customer)
            except stripe_client.StripeUnavailable:
                invoices_error = "Stripe is unreachable right now: your invoices will show here when it is back."
    return render(
        request,
        "billing/billing.html",
        {
            "summary": summary,
            "on_sale": enabled,
            "activating": activating,
            "invoices": invoices,
            "invoices_error": invoices_error,
            "nav_section": "billing",
        },
    )


@login_required
@require_POST
def portal(request: HttpRequest) -> HttpResponse:
    """Stripe's customer portal (card, plan, cancel at period end), back to the billing page after."""
    row = Subscription.objects.filter(user=request.user).exclude(stripe_customer_id="").first()
    if not billing_enabled() or row is None:
        messages.error(request, "You have no Stripe billing to manage yet: choose a plan first.")
        return redirect("billing:pricing")
    try:
        url = stripe_client.portal_session_url(
            row.stripe_customer_id, return_url=request.build_absolute_uri(reverse("billing:billing"))
        )
    except stripe_client.StripeUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("billing:billing")
    return redirect(url)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's events: verified and stored once by id, answered at once, applied by the worker."""
    if not (billing_enabled() and settings.BILLING["STRIPE_WEBHOOK_SECRET"]):
        return HttpResponseBadRequest("billing is off")
    try:
        event, created = stripe_event_receive(request.body, request.headers.get("Stripe-Signature", ""))
    except BadWebhook:
        logger.info("refused a Stripe webhook with a bad signature or timestamp")
        return HttpResponseBadRequest("bad signature")
    except NotQueued:
        return HttpResponse("stored, not queued: deliver again", status=503, content_type="text/plain")
    return HttpResponse("ok" if created else "duplicate", content_type="text/plain")
