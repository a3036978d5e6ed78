"""The plans as the platform's plan sheet prices them (admins edit them in the Django admin)."""

from decimal import Decimal

from django.db import migrations

PLANS = [
    {
        "code": "free",
        "name": "Free",
        "rank": 0,
        "description": "Demo and paper trading with one bot.",
        "monthly_price": Decimal("0.00"),
        "yearly_price": Decimal("0.00"),
        "max_running_bots": 1,
        "max_bots": 3,
        "max_concurrent_backtests": 1,
        "max_backtest_days": 7,
        "deriv_real_trading": False,
        "live_trading": False,
        "max_exchange_connections": 1,
        "max_open_positions": 3,
        "max_trades_per_day": 20,
        "email_alerts": False,
        "history_days": 30,
    },
    {
        "code": "basic",
        "name": "Basic",
        "rank": 1,
        "description": "Live trading with a few bots.",
        "monthly_price": Decimal("49.00"),
        "yearly_price": Decimal("470.00"),
        "max_running_bots": 3,
        "max_bots": 10,
        "max_concurrent_backtests": 2,
        "max_backtest_days": 30,
        "deriv_real_trading": False,
        "live_trading": True,
        "max_exchange_connections": 2,
        "max_open_positions": 5,
        "max_trades_per_day": 30,
        "email_alerts": True,
        "history_days": 180,
    },
    {
        "code": "pro",
        "name": "Pro",
        "rank": 2,
        "description": "Deriv real accounts, twenty bots, 90-day backtests.",
        "monthly_price": Decimal("149.00"),
        "yearly_price": Decimal("1430.00"),
        "max_running_bots": 20,
        "max_bots": 50,
        "max_concurrent_backtests": 3,
        "max_backtest_days": 90,
        "deriv_real_trading": True,
        "live_trading": True,
        "max_exchange_connections": 5,
        "max_open_positions": 10,
        "max_trades_per_day": 100,
        "email_alerts": True,
        "history_days": 730,
    },
    {
        "code": "enterprise",
        "name": "Enterprise",
        "rank": 3,
        "description": "No limits, for desks and partners. Sold by contact.",
        "monthly_price": None,
        "yearly_price": None,
        "sold_by_contact": True,
        "max_running_bots": None,
        "max_bots": None,
        "max_concurrent_backtests": None,
        "max_backtest_days": None,
        "deriv_real_trading": True,
        "live_trading": True,
        "max_exchange_connections": None,
        "max_open_positions": None,
        "max_trades_per_day": None,
        "email_alerts": True,
        "history_days": None,
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for plan in PLANS:
        Plan.objects.update_or_create(code=plan["code"], defaults=plan)


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(code__in=[p["code"] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
