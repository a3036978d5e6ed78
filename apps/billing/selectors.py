"""Reads of plans and subscriptions."""

from django.conf import settings

from .entitlements import in_force, plan_in_force
from .models import Plan, Source, Subscription

# The pricing page's rows: (label, Plan field, kind) — "limit": a number or "Unlimited"; "feature": yes or no.
COMPARED = (
    ("Bots running at once", "max_running_bots", "limit"),
    ("Bots in total", "max_bots", "limit"),
    ("Backtests at a time", "max_concurrent_backtests", "limit"),
    ("Longest backtest (days)", "max_backtest_days", "limit"),
    ("Deriv real-money accounts", "deriv_real_trading", "feature"),
    ("Live exchange trading", "live_trading", "feature"),
    ("Exchange connections", "max_exchange_connections", "limit"),
    ("Open exchange positions", "max_open_positions", "limit"),
    ("Exchange trades a day", "max_trades_per_day", "limit"),
    ("Email alerts", "email_alerts", "feature"),
    ("History kept (days)", "history_days", "limit"),
)


def billing_enabled() -> bool:
    """Plans are on sale only with Stripe configured; without it everyone has the default plan or a grant."""
    return bool(settings.BILLING["STRIPE_SECRET_KEY"])


def plans_compared() -> dict:
    """Every plan, and one row per limit or feature with each plan's value as the page shows it."""
    plans = list(Plan.objects.all())
    rows = []
    for label, name, kind in COMPARED:
        values = []
        for plan in plans:
            value = getattr(plan, name)
            if kind == "feature":
                values.append("Yes" if value else "—")
            else:
                values.append("Unlimited" if value is None else f"{value:,}")
        rows.append({"label": label, "values": values})
    return {"plans": plans, "rows": rows}


def billing_summary(user) -> dict:
    """What the billing page says about the user's plan: the plan in force, and their subscription's state."""
    subscription = Subscription.objects.filter(user=user).select_related("plan").first()
    shown = subscription is not None and (subscription.stripe_subscription_id or subscription.source == Source.GRANT)
    return {
        "plan": plan_in_force(user),
        "subscription": subscription if shown else None,
        "in_force": in_force(subscription),
        "grant": shown and subscription.source == Source.GRANT,
        "customer": bool(subscription and subscription.stripe_customer_id),
    }
