"""May this user do X? One answer, from the plan in force, for every caller (never only a template).

    refusal = limit_refusal(user, "max_running_bots", wanted=running + 1)
    if refusal:
        raise refusal.error()

A refusal says what the trader's plan allows and names the cheapest plan that allows what
they asked (`upgrade`), so the page can offer an Upgrade button; a ValidationError made
from it has the code "plan_limit" and the plan's code in its params.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import Plan, Source, Status, Subscription

PLAN_LIMIT = "plan_limit"

# What each limit counts, as a sentence reads it: (one, many).
LIMITS = {
    "max_running_bots": ("bot running at once", "bots running at once"),
    "max_bots": ("bot", "bots"),
    "max_concurrent_backtests": ("backtest at a time", "backtests at a time"),
    "max_backtest_days": ("day of prices in a backtest", "days of prices in a backtest"),
    "max_exchange_connections": ("exchange connection", "exchange connections"),
    "max_open_positions": ("open position", "open positions"),
    "max_trades_per_day": ("trade a day", "trades a day"),
    "history_days": ("day of history", "days of history"),
}
FEATURES = {
    "deriv_real_trading": "trading Deriv real-money accounts",
    "live_trading": "live trading with real money",
    "email_alerts": "email alerts",
}


@dataclass(frozen=True)
class Refusal:
    message: str
    upgrade: Plan | None  # the cheapest plan that allows it (sold_by_contact: the page says to contact us)

    def error(self, field: str | None = None) -> ValidationError:
        error = ValidationError(
            self.message, code=PLAN_LIMIT, params={"plan": self.upgrade.code if self.upgrade else ""}
        )
        return ValidationError({field: error}) if field else error


def default_plan() -> Plan:
    return Plan.objects.get(code=settings.BILLING["DEFAULT_PLAN"])


def in_force(subscription: Subscription | None, *, now=None) -> bool:
    """Whether this subscription's plan applies now.

    Active and trialing subscriptions do (a grant until its end date, if it has one); a past-due one
    does for the grace period after its first failed payment; anything else falls back to the default.
    """
    if subscription is None or subscription.plan_id is None:
        return False
    now = now or timezone.now()
    if subscription.source == Source.GRANT:
        return subscription.current_period_end is None or subscription.current_period_end > now
    if subscription.status in (Status.ACTIVE, Status.TRIALING):
        return True
    if subscription.status == Status.PAST_DUE:
        since = subscription.past_due_since or now
        return now - since < timedelta(days=settings.BILLING["GRACE_DAYS"])
    return False


def plan_in_force(user, *, now=None) -> Plan:
    subscription = Subscription.objects.filter(user=user).select_related("plan").first()
    return subscription.plan if in_force(subscription, now=now) else default_plan()


def _allows(plan: Plan, name: str, wanted: int | None) -> bool:
    if name in FEATURES:
        return getattr(plan, name)
    limit = getattr(plan, name)
    return limit is None or wanted <= limit


def _upgrade(current: Plan, name: str, wanted: int | None) -> Plan | None:
    for plan in Plan.objects.filter(rank__gt=current.rank).order_by("rank"):
        if _allows(plan, name, wanted):
            return plan
    return None


def _phrase(name: str, n: int) -> str:
    one, many = LIMITS[name]
    return f"{n} {one if n == 1 else many}"


def limit_refusal(user, name: str, *, wanted: int, plan: Plan | None = None) -> Refusal | None:
    """None if the plan in force allows `wanted` of limit `name` (the count once the action is done)."""
    if name not in LIMITS:
        raise ValueError(f"unknown limit {name!r}")
    plan = plan or plan_in_force(user)
    if _allows(plan, name, wanted):
        return None
    upgrade = _upgrade(plan, name, wanted)
    message = f"Your {plan.name} plan allows {_phrase(name, getattr(plan, name))}."
    if upgrade is not None:
        allowed = getattr(upgrade, name)
        message += f" {upgrade.name} allows {_phrase(name, allowed) if allowed is not None else 'any number'}."
    return Refusal(message, upgrade)


def feature_refusal(user, name: str, *, plan: Plan | None = None) -> Refusal | None:
    """None if the plan in force includes feature `name`."""
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}")
    plan = plan or plan_in_force(user)
    if _allows(plan, name, None):
        return None
    upgrade = _upgrade(plan, name, None)
    message = f"Your {plan.name} plan does not include {FEATURES[name]}."
    if upgrade is not None:
        message += f" {upgrade.name} does."
    return Refusal(message, upgrade)


def may_email(user, *, plan: Plan | None = None) -> bool:
    """Whether notifications may also reach `user` by email (the plan's `email_alerts`)."""
    return feature_refusal(user, "email_alerts", plan=plan) is None


def plans_in_force(user_ids, *, now=None) -> dict[int, Plan]:
    """The plan in force for each of these users, in two queries (bulk purchases ask for many traders)."""
    user_ids = set(user_ids)
    subscriptions = Subscription.objects.filter(user_id__in=user_ids).select_related("plan")
    plans = {s.user_id: s.plan for s in subscriptions if in_force(s, now=now)}
    if missing := user_ids - plans.keys():
        fallback = default_plan()
        plans |= dict.fromkeys(missing, fallback)
    return plans


def upgrade_url(plan: Plan) -> str:
    """Where a refusal's Upgrade link goes: the pricing page, that plan highlighted and scrolled to."""
    from django.urls import reverse

    return f"{reverse('billing:pricing')}?plan={plan.code}#plan-{plan.code}"


def refused_plan(what) -> Plan | None:
    """The plan a refusal points to: from a Plan, a plan code, a ValidationError or a form's error list."""
    if isinstance(what, Plan) or what is None:
        return what
    if isinstance(what, str):
        return Plan.objects.filter(code=what).first() if what else None
    errors = what.as_data() if hasattr(what, "as_data") else getattr(what, "error_list", [])
    for error in errors:
        if getattr(error, "code", None) == PLAN_LIMIT and (error.params or {}).get("plan"):
            return Plan.objects.filter(code=error.params["plan"]).first()
    return None
