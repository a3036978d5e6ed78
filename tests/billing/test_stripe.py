"""Stripe billing against the fake Stripe: Upgrade, Checkout, the webhook and how events apply."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.billing.entitlements import plan_in_force
from apps.billing.models import Plan, Status, StripeEvent, Subscription
from apps.billing.signals import subscription_changed
from apps.billing.webhooks import stripe_event_apply
from apps.notifications.models import Notification
from tests.billing.stripe_support import deliver_all, post_event, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def changes():
    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["user_id"], kwargs["old_plan"], kwargs["new_plan"]))

    subscription_changed.connect(receiver, dispatch_uid="test.changes")
    yield seen
    subscription_changed.disconnect(dispatch_uid="test.changes")


# --- Upgrade and Checkout ------------------------------------------------------------------------------


def test_subscribe_opens_checkout_for_the_plans_price_with_one_customer(client, user, stripe_on):
    client.force_login(user)
    response = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "year"})
    assert response.status_code == 302 and response["Location"].startswith(stripe_on.url + "/pay/cs_test_")
    (session,) = stripe_on.sessions.values()
    assert session["line_items_price"] == "price_basic_year"
    assert session["client_reference_id"] == str(user.pk)
    assert session["success_url"].endswith(f"/billing/?checkout={session['id']}")
    row = Subscription.objects.get(user=user)
    assert row.stripe_customer_id == session["customer"] and len(stripe_on.customers) == 1
    assert plan_in_force(user).code == "free"  # nothing changes until Stripe says it is paid


def test_a_double_click_on_upgrade_opens_one_checkout_session(client, user, stripe_on):
    client.force_login(user)
    first = client.post(reverse("billing:upgrade", args=["pro"]), {"interval": "month"})
    second = client.post(reverse("billing:upgrade", args=["pro"]), {"interval": "month"})
    assert first["Location"] == second["Location"]
    assert len(stripe_on.sessions) == 1 and len(stripe_on.customers) == 1


def test_the_customer_is_created_once_even_when_its_id_was_lost(client, user, stripe_on):
    from apps.billing.stripe_client import customer_ensure

    first = customer_ensure(user)
    Subscription.objects.filter(user=user).update(stripe_customer_id="")
    assert customer_ensure(user) == first  # the idempotency key (the user's id) gives back the same customer
    assert len(stripe_on.customers) == 1


def test_stripe_unreachable_on_upgrade_says_so_and_changes_nothing(client, user, stripe_on):
    stripe_on.unreachable = True
    client.force_login(user)
    response = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "month"}, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("billing:pricing"))
    assert "Stripe is unreachable right now; nothing was charged or changed." in response.content.decode()
    assert not Subscription.objects.filter(user=user).exclude(stripe_customer_id="").exists()
    assert plan_in_force(user).code == "free"


def test_checkout_abandoned_returns_to_pricing_and_changes_nothing(client, user, stripe_on):
    client.force_login(user)
    response = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "month"})
    session = next(iter(stripe_on.sessions.values()))
    page = client.get(session["cancel_url"], follow=True)
    assert "Checkout was cancelled; nothing changed." in page.content.decode()
    assert response.status_code == 302 and stripe_on.outbox == [] and stripe_on.subscriptions == {}
    assert plan_in_force(user).code == "free" and not StripeEvent.objects.exists()


def test_bad_interval_and_plans_not_sold_online_are_refused_with_a_message(client, user, stripe_on):
    client.force_login(user)
    page = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "week"}, follow=True)
    assert "Choose monthly or yearly billing." in page.content.decode()
    page = client.post(reverse("billing:upgrade", args=["enterprise"]), {"interval": "month"}, follow=True)
    assert "not sold online: contact us" in page.content.decode()
    assert client.post(reverse("billing:upgrade", args=["nope"]), {"interval": "month"}).status_code == 404
    assert stripe_on.sessions == {}


def test_upgrade_needs_a_sign_in_and_a_post(client, stripe_on):
    response = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "month"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_pricing_offers_subscribe_buttons_and_a_contact_line_when_billing_is_on(client, user, stripe_on):
    client.force_login(user)
    page = client.get(reverse("billing:pricing")).content.decode()
    assert 'data-testid="subscribe-basic-month"' in page and 'data-testid="subscribe-pro-year"' in page
    assert 'data-testid="contact-enterprise"' in page and "not on sale" not in page


# --- Return, the billing page, the portal ----------------------------------------------------------------


def test_the_return_page_says_activating_until_the_webhook_is_applied(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    session = subscribe(client, user, stripe_on)
    url = reverse("billing:billing") + f"?checkout={session['id']}"
    assert 'data-testid="billing-activating"' in client.get(url).content.decode()
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    page = client.get(url).content.decode()
    assert 'data-testid="billing-activating"' not in page
    assert 'data-plan="basic"' in page and "Renews on" in page
    assert plan_in_force(user).code == "basic"
    assert changes == [(user.pk, "free", "basic")]  # three events, one change
    notification = Notification.objects.get(user=user)
    assert notification.title == "Your plan is now Basic"
    assert AuditEvent.objects.filter(action="billing.plan_changed").count() == 1


def test_another_users_checkout_session_is_a_404(client, user, other_user, stripe_on):
    session = subscribe(client, user, stripe_on)
    client.force_login(other_user)
    assert client.get(reverse("billing:billing") + f"?checkout={session['id']}").status_code == 404


def test_the_billing_page_lists_stripes_invoices_and_opens_the_portal(
    client, user, stripe_on, django_capture_on_commit_callbacks
):
    subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    page = client.get(reverse("billing:billing")).content.decode()
    (invoice,) = stripe_on.invoices.values()
    assert invoice["hosted_invoice_url"] in page and invoice["number"] in page and "49.00 USD" in page
    portal = client.post(reverse("billing:portal"))
    assert portal.status_code == 302 and portal["Location"].startswith(stripe_on.url + "/portal/bps_")


def test_upgrade_while_paying_opens_the_portal_to_switch_plan(
    client, user, stripe_on, django_capture_on_commit_callbacks
):
    subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    response = client.post(reverse("billing:upgrade", args=["pro"]), {"interval": "month"})
    assert response["Location"].startswith(stripe_on.url + "/portal/") and len(stripe_on.sessions) == 1


def test_the_billing_page_says_when_stripe_is_down(client, user, stripe_on, django_capture_on_commit_callbacks):
    subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    stripe_on.unreachable = True
    page = client.get(reverse("billing:billing")).content.decode()
    assert 'data-testid="invoices-unavailable"' in page and 'data-plan="basic"' in page


def test_billing_off_without_a_secret_key(client, user, settings):
    settings.BILLING = {**settings.BILLING, "STRIPE_SECRET_KEY": "", "DEFAULT_PLAN": "free"}
    client.force_login(user)
    assert "Plans are not on sale" in client.get(reverse("billing:pricing")).content.decode()
    page = client.get(reverse("billing:billing"))
    assert page.status_code == 200 and 'data-plan="free"' in page.content.decode()
    refused = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "month"}, follow=True)
    assert "Plans are not on sale on this installation." in refused.content.decode()
    assert client.post("/billing/stripe/webhook/", b"{}", content_type="application/json").status_code == 400


# --- The webhook --------------------------------------------------------------------------------------


def _paid(client, user, fake):
    session = subscribe(client, user, fake)
    return session, fake.take_events()


def test_a_tampered_signature_is_refused_and_nothing_stored(client, user, stripe_on):
    _, events = _paid(client, user, stripe_on)
    body, signature = stripe_on.signed(events[0])
    tampered = body.replace(b'"active"', b'"paused"')
    response = client.post(
        "/billing/stripe/webhook/", tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 400
    assert post_event(client, stripe_on, events[0], secret="whsec_someone_else").status_code == 400
    missing = client.post("/billing/stripe/webhook/", body, content_type="application/json")
    assert missing.status_code == 400 and not StripeEvent.objects.exists()


def test_a_replay_older_than_the_tolerance_is_refused(client, user, stripe_on):
    _, events = _paid(client, user, stripe_on)
    response = post_event(client, stripe_on, events[0], timestamp=int(time.time()) - 301)
    assert response.status_code == 400 and not StripeEvent.objects.exists()


def test_only_post_reaches_the_webhook(client, stripe_on):
    assert client.get("/billing/stripe/webhook/").status_code == 405


def test_the_same_event_twice_is_stored_and_applied_once(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    stripe_on.duplicate_next("checkout.session.completed")
    subscribe(client, user, stripe_on)
    responses = deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    assert [r.status_code for r in responses] == [200] * 4
    assert responses[-1].content == b"duplicate"
    assert StripeEvent.objects.count() == 3 and not StripeEvent.objects.filter(applied_at=None).exists()
    assert changes == [(user.pk, "free", "basic")]


def test_events_out_of_order_converge_on_stripes_state(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    """subscription.deleted arrives before the subscription.updated that preceded it: the plan ends once."""
    session = subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    stripe_on.subscription_update(session["subscription"], cancel_at_period_end=True)
    stripe_on.subscription_cancel(session["subscription"])
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks, reverse_order=True)
    row = Subscription.objects.get(user=user)
    assert row.status == Status.CANCELED and plan_in_force(user).code == "free"
    assert changes == [(user.pk, "free", "basic"), (user.pk, "basic", "free")]
    assert not StripeEvent.objects.filter(applied_at=None).exists()


def test_a_late_checkout_event_after_the_cancellation_does_not_bring_the_plan_back(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    stripe_on.hold()
    session = subscribe(client, user, stripe_on)
    stripe_on.subscription_cancel(session["subscription"])
    stripe_on.release(reverse=True)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    assert Subscription.objects.get(user=user).status == Status.CANCELED
    assert plan_in_force(user).code == "free" and changes == []


def test_an_unknown_price_id_is_recorded_on_the_event_and_the_plan_stays(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    subscribe(client, user, stripe_on)
    Plan.objects.filter(code="basic").update(stripe_price_monthly="price_renamed")
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    errors = set(StripeEvent.objects.values_list("error", flat=True))
    assert errors == {"unknown price id price_basic_month"}
    assert not StripeEvent.objects.exclude(applied_at=None).exists()
    assert plan_in_force(user).code == "free" and changes == []


def test_an_event_for_an_unknown_customer_is_recorded(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    stranger = stripe_on.customer_create({"email": "stranger@example.com"})
    subscription = stripe_on.subscription_create(stranger["id"], "price_pro_month")
    stripe_on._emit("customer.subscription.created", subscription)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    event = StripeEvent.objects.get()
    assert event.error == f"unknown customer {stranger['id']}" and event.applied_at is None
    assert changes == [] and not Subscription.objects.exclude(plan=None).exists()


def test_a_failed_renewal_is_past_due_with_a_grace_period_then_the_default_plan(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    session = subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    stripe_on.fail_renewal(session["subscription"])
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    row = Subscription.objects.get(user=user)
    assert row.status == Status.PAST_DUE and row.past_due_since is not None
    assert plan_in_force(user).code == "basic"  # within the grace period
    assert plan_in_force(user, now=timezone.now() + timedelta(days=8)).code == "free"
    page = client.get(reverse("billing:billing")).content.decode()
    assert 'data-testid="billing-past-due"' in page
    first_failure = row.past_due_since
    stripe_on.fail_renewal(session["subscription"])  # Stripe retries and fails again: the grace period runs on
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    assert Subscription.objects.get(user=user).past_due_since == first_failure
    stripe_on.renew(session["subscription"])
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert row.status == Status.ACTIVE and row.past_due_since is None
    assert changes == [(user.pk, "free", "basic")]


def test_a_plan_switch_in_the_portal_applies_the_new_price(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks
):
    session = subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    stripe_on.subscription_update(session["subscription"], price="price_pro_year")
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    row = Subscription.objects.get(user=user)
    assert row.plan.code == "pro" and row.stripe_price_id == "price_pro_year"
    assert changes[-1] == (user.pk, "basic", "pro")


def test_stripe_down_while_applying_leaves_the_event_for_a_retry(client, user, stripe_on, monkeypatch):
    from apps.billing import webhooks

    queued = []
    monkeypatch.setattr(webhooks, "async_task", lambda name, pk, **kwargs: queued.append(pk))
    subscribe(client, user, stripe_on)
    events = stripe_on.take_events()
    stripe_on.unreachable = True
    assert post_event(client, stripe_on, events[0]).status_code == 200  # stored and answered at once
    stored = StripeEvent.objects.get()
    assert queued == [stored.pk]
    with pytest.raises(Exception, match="unreachable"):
        stripe_event_apply(stored.pk)
    stored.refresh_from_db()
    assert stored.applied_at is None and "unreachable" in stored.error
    stripe_on.unreachable = False
    stripe_event_apply(stored.pk)  # the worker's retry
    stored.refresh_from_db()
    assert stored.applied_at is not None and stored.error == "" and plan_in_force(user).code == "basic"


# --- Account deletion ---------------------------------------------------------------------------------


def test_deleting_a_user_cancels_their_stripe_subscription_first(
    client, user, stripe_on, django_capture_on_commit_callbacks
):
    session = subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    user.delete()
    assert stripe_on.subscriptions[session["subscription"]]["status"] == "canceled"
    assert [e["type"] for e in stripe_on.take_events()] == ["customer.subscription.deleted"]
    assert not Subscription.objects.exists()


def test_a_user_is_not_deleted_while_stripe_cannot_cancel_their_subscription(
    client, user, stripe_on, django_capture_on_commit_callbacks
):
    from apps.billing.stripe_client import StripeUnavailable

    subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    stripe_on.unreachable = True
    with pytest.raises(StripeUnavailable), transaction.atomic():  # the admin's delete runs in one transaction
        user.delete()
    assert Subscription.objects.filter(user=user).exists()


def test_deleting_a_user_without_a_subscription_asks_stripe_nothing(user, stripe_on):
    stripe_on.unreachable = True
    user.delete()
    assert stripe_on.requests == []


def test_subscribing_again_after_a_cancellation_opens_a_new_session(
    client, user, stripe_on, django_capture_on_commit_callbacks
):
    first = subscribe(client, user, stripe_on)
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    stripe_on.subscription_cancel(first["subscription"])
    deliver_all(client, stripe_on, django_capture_on_commit_callbacks)
    again = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "month"})
    session_id = again["Location"].rsplit("/", 1)[1]
    assert session_id != first["id"] and stripe_on.sessions[session_id]["status"] == "open"
    assert len(stripe_on.customers) == 1


def test_a_replayed_session_that_was_paid_is_not_offered_again(client, user, stripe_on):
    """The subscription is not applied yet (webhooks late), the cached session is gone: the key replays a paid one."""
    from django.core.cache import cache

    first = subscribe(client, user, stripe_on)
    cache.clear()
    again = client.post(reverse("billing:upgrade", args=["basic"]), {"interval": "month"})
    session_id = again["Location"].rsplit("/", 1)[1]
    assert session_id != first["id"] and stripe_on.sessions[session_id]["status"] == "open"


def test_an_event_the_worker_could_not_be_told_about_is_answered_503_and_queued_on_redelivery(
    client, user, stripe_on, changes, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.billing import webhooks

    subscribe(client, user, stripe_on)
    events = stripe_on.take_events()

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    with monkeypatch.context() as patched:
        patched.setattr(webhooks, "async_task", broker_down)
        assert post_event(client, stripe_on, events[0], capture=django_capture_on_commit_callbacks).status_code == 503
    assert StripeEvent.objects.get().applied_at is None
    again = post_event(client, stripe_on, events[0], capture=django_capture_on_commit_callbacks)
    assert again.status_code == 200 and again.content == b"duplicate"
    assert StripeEvent.objects.get().applied_at is not None and changes == [(user.pk, "free", "basic")]


def test_a_checkout_id_stripe_does_not_know_is_a_404(client, user, stripe_on):
    client.force_login(user)
    assert client.get(reverse("billing:billing") + "?checkout=cs_test_nope").status_code == 404
