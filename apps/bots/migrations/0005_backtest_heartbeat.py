"""Backtests keep when they started and a heartbeat; every minute the worker fails runs whose heartbeat stopped.

A worker killed mid-run (time limit, out of memory, a restart) leaves its
backtest RUNNING: the `backtests-fail-stale` schedule marks it FAILED with the
reason once its heartbeat is older than the backtest worker's time limit.
"""

from django.db import migrations, models

SCHEDULE_NAME = "backtests-fail-stale"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "apps.bots.tasks.fail_stale_backtests",
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": 1,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name=SCHEDULE_NAME).delete()


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
        migrations.RunPython(create_schedule, delete_schedule),
    ]
