"""The settlement sweep: every minute the worker settles anything overdue.

The feed enqueues settlement after each tick; this schedule catches what a
lost task or a stopped worker left behind.
"""

from django.db import migrations

from apps.common.schedules import EVERY_MINUTE, schedule_operation

SCHEDULE_NAME = "settle-overdue"


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0002_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name=SCHEDULE_NAME, func="apps.trading.tasks.settle_overdue", schedule_type=EVERY_MINUTE)
    ]
