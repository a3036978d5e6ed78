"""Billing's writes that are not Stripe's: plan edits, grants by an admin, lapses, and the one way a plan change
is recorded (audited, notified, and told through `subscription_changed` after commit).

Stripe's side records its changes with `subscription_plan_changed` too, so every change of the plan in force
reaches the user and the other apps the same way.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import audit_log
from apps.common.events import send_after_commit
from apps.notifications.models import Kind
from apps.notifications.services import NewNotification, notifications_create

from .entitlements import default_plan, in_force
from .models import Plan, Source, Status, Subscription
from .signals import subscription_changed

# What an admin edits on a plan, audited old → new.
PLAN_FIELDS = (
    "code",
    "name",
    "rank",
    "description",
    "monthly_price",
    "yearly_price",
    "currency",
    "stripe_price_monthly",
    "stripe_price_yearly",
    "sold_by_contact",
    "max_running_bots",
    "max_bots",
    "max_concurrent_backtests",
    "max_backtest_days",
    "deriv_real_trading",
    "live_trading",
    "max_exchange_connections",
    "max_open_positions",
    "max_trades_per_day",
    "email_alerts",
    "history_days",
)


def _text(value):
    return value if value is None or isinstance(value, bool | int) else str(value)


def plan_save(*, plan: Plan, actor, request=None) -> Plan:
    """Save an admin's edit of a plan (or a new plan), audited with each changed field old → new.

    Limits take effect at once for everyone on the plan: refusals read the plan when asked.
    Nothing running is stopped by an edit (only a change of plan does that).
    """
    with transaction.atomic():
        before = Plan.objects.filter(pk=plan.pk).values(*PLAN_FIELDS).first() if plan.pk else None
        plan.full_clean()
        plan.save()
        if before is None:
            audit_log(
                actor=actor,
                action="billing.plan.create",
                target=plan,
                request=request,
                data={name: _text(getattr(plan, name)) for name in PLAN_FIELDS},
            )
        else:
            changed = {
                name: [_text(before[name]), _text(getattr(plan, name))]
                for name in PLAN_FIELDS
                if before[name] != getattr(plan, name)
            }
            if changed:
                audit_log(actor=actor, action="billing.plan.update", target=plan, request=request, data=changed)
    return plan


def subscription_plan_changed(*, user_id: int, old: Plan, new: Plan, actor=None, why: str = "", request=None) -> bool:
    """Record that the plan in force for `user_id` went from `old` to `new`; False (nothing done) if they are the same.

    Audited ("billing.plan_changed", old → new and why), one PLAN_CHANGED notification to the user, and
    `subscription_changed` after commit (bots over the new plan's limits stop then). Call it inside the
    transaction that made the change, with the plans in force before and after it.
    """
    if old.code == new.code:
        return False
    audit_log(
        actor=actor,
        action="billing.plan_changed",
        request=request,
        data={"user": user_id, "plan": [old.code, new.code], "why": why},
    )
    upgraded = new.rank > old.rank
    notifications_create(
        [
            NewNotification(
                user_id=user_id,
                kind=Kind.PLAN_CHANGED,
                title=f"Your plan is now {new.name}"[:120],
                body=(why or ("Your new plan's limits apply now." if upgraded else f"It was {old.name}."))[:500],
                link=f"{reverse('billing:pricing')}?plan={new.code}#plan-{new.code}",
            )
        ]
    )
    send_after_commit(subscription_changed, sender=Subscription, user_id=user_id, old_plan=old.code, new_plan=new.code)
    return True


def _plan_now(subscription: Subscription | None, now) -> Plan:
    return subscription.plan if in_force(subscription, now=now) else default_plan()


def _stripe_in_force(subscription: Subscription | None, now) -> bool:
    return subscription is not None and subscription.source == Source.STRIPE and in_force(subscription, now=now)


def plan_grant(*, user, plan: Plan, until: datetime | None = None, actor, note: str = "", request=None) -> Subscription:
    """An admin gives `user` a plan by hand, with no Stripe involved, until `until` (None: until ended).

    Refused while the user pays through Stripe (their plan is changed there). Audited old → new,
    notified, and a change of the plan in force is told through `subscription_changed`.
    """
    now = timezone.now()
    if until is not None and until <= now:
        raise ValidationError({"until": "Choose an end in the future, or leave it empty for no end."})
    with transaction.atomic():
        subscription, _ = Subscription.objects.select_for_update().get_or_create(user=user)
        subscription.refresh_from_db()
        if _stripe_in_force(subscription, now):
            raise ValidationError(
                f"{user} pays for {subscription.plan.name} through Stripe: change or cancel it there first."
            )
        old = _plan_now(subscription, now)
        before = {
            "plan": subscription.plan.code if subscription.plan else None,
            "source": subscription.source,
            "until": _text(subscription.current_period_end),
        }
        subscription.plan, subscription.source, subscription.status = plan, Source.GRANT, Status.ACTIVE
        subscription.current_period_end, subscription.past_due_since = until, None
        subscription.cancel_at_period_end, subscription.note = False, note[:200]
        subscription.save()
        after = {"plan": plan.code, "source": Source.GRANT, "until": _text(until)}
        audit_log(
            actor=actor,
            action="billing.plan_grant",
            target=subscription,
            request=request,
            data={**{k: [before[k], after[k]] for k in after if before[k] != after[k]}, "user": user.pk, "note": note},
        )
        why = f"Granted by Nexus{f' until {until:%Y-%m-%d %H:%M} UTC' if until else ''}." + (f" {note}" if note else "")
        if not subscription_plan_changed(user_id=user.pk, old=old, new=plan, actor=actor, why=why, request=request):
            notifications_create(
                [NewNotification(user_id=user.pk, kind=Kind.PLAN_CHANGED, title=f"Your {plan.name} plan", body=why)]
            )
    return subscription


def plan_grant_end(*, user, actor, note: str = "", request=None) -> Subscription:
    """End an admin's grant now: the user falls back to the default plan (their data stays)."""
    now = timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().filter(user=user).first()
        if subscription is None or subscription.source != Source.GRANT or not in_force(subscription, now=now):
            raise ValidationError(f"{user} has no granted plan in force.")
        old = subscription.plan
        before = _text(subscription.current_period_end)
        subscription.current_period_end, subscription.status = now, Status.CANCELED
        if note:
            subscription.note = note[:200]
        subscription.save()
        audit_log(
            actor=actor,
            action="billing.plan_grant_end",
            target=subscription,
            request=request,
            data={"user": user.pk, "plan": old.code, "until": [before, _text(now)], "note": note},
        )
        new = default_plan()
        why = f"Your granted {old.name} plan ended." + (f" {note}" if note else "")
        subscription_plan_changed(user_id=user.pk, old=old, new=new, actor=actor, why=why, request=request)
    return subscription


def _lapsing(now) -> Q:
    grace = settings.BILLING["GRACE_DAYS"]
    return Q(
        source=Source.STRIPE,
        status=Status.PAST_DUE,
        plan__isnull=False,
        past_due_since__lte=now - timedelta(days=grace),
    ) & (Q(lapsed_at__isnull=True) | Q(lapsed_at__lt=F("past_due_since")))


def subscriptions_lapse(*, now=None) -> int:
    """Past-due Stripe subscriptions whose grace period ended fall back to the default plan, each told once.

    A conditional update marks each (`lapsed_at`) before it is told, so a second run, or two at once, tells
    nobody twice; a later failed payment (a new `past_due_since`) lapses again. Returns how many lapsed.
    """
    now = now or timezone.now()
    lapsed = 0
    ids = list(Subscription.objects.filter(_lapsing(now)).values_list("pk", flat=True)[:500])
    for pk in ids:
        with transaction.atomic():
            if not Subscription.objects.filter(_lapsing(now), pk=pk).update(lapsed_at=now):
                continue
            subscription = Subscription.objects.select_related("plan").get(pk=pk)
            new = default_plan()
            days = settings.BILLING["GRACE_DAYS"]
            why = (
                f"Your payment for {subscription.plan.name} failed and was not made within the {days}-day grace "
                "period. Pay the open invoice to get it back; nothing of yours was deleted."
            )
            audit_log(
                actor=None,
                action="billing.subscription_lapsed",
                target=subscription,
                data={"user": subscription.user_id},
            )
            subscription_plan_changed(user_id=subscription.user_id, old=subscription.plan, new=new, why=why)
            lapsed += 1
    return lapsed
