"""The signals monitor's configuration (all four strategies with their defaults), stored once here.

Selectors only read it. The values are the defaults of `engine.config.DecisionConfig()`
as they were when this migration was written, key included: a change to those
defaults needs a new migration (a test compares the two).
"""

from decimal import Decimal

from django.db import migrations

MONITOR_KEY = "64259e6b3ae31436994d43037bb228e4"
MONITOR_STRATEGIES = {
    "breakout": {"period": 20, "margin": 0.1},
    "dual_rsi": {"fast": 9, "slow": 14, "oversold": 30.0, "overbought": 70.0},
    "momentum": {"fast": 9, "slow": 21, "min_strength": 0.2, "full_strength": 0.8},
    "scalping": {"ticks": 5, "min_streak": 3, "lookback": 30},
}


def create_monitor_config(apps, schema_editor):
    StrategyConfig = apps.get_model("bots", "StrategyConfig")
    StrategyConfig.objects.get_or_create(
        key=MONITOR_KEY,
        defaults={"strategies": MONITOR_STRATEGIES, "min_agreeing": 2, "min_confidence": Decimal("0.70")},
    )


class Migration(migrations.Migration):
    dependencies = [("bots", "0003_skip_reasons")]

    # Reversing leaves the row: bots and decisions may use it.
    operations = [migrations.RunPython(create_monitor_config, migrations.RunPython.noop)]
