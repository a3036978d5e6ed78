"""Backtests keep when they started and a heartbeat; every minute the worker fails runs whose heartbeat stopped.

A worker killed mid-run (time limit, out of memory, a restart) leaves its
backtest RUNNING: the `backtests-fail-stale` schedule marks it FAILED with the
reason once its heartbeat is older than the backtest worker's time limit.
"""

from django.db import migrations, models

from apps.common.schedules import EVERY_MINUTE, schedule_operation

SCHEDULE_NAME = "backtests-fail-stale"


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0004_monitor_config"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="backtest",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="backtest",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="backtest",
            index=models.Index(fields=["status", "heartbeat_at"], name="backtest_status_heartbeat"),
        ),
        schedule_operation(name=SCHEDULE_NAME, func="apps.bots.tasks.fail_stale_backtests", schedule_type=EVERY_MINUTE),
    ]
