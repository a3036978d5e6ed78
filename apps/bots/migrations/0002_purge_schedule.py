"""Every day the worker drops decisions and regime readings older than the tick retention (traded ones stay)."""

from django.db import migrations

from apps.common.schedules import DAILY, schedule_operation

SCHEDULE_NAME = "bots-purge-old-decisions"


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name=SCHEDULE_NAME, func="apps.bots.tasks.purge_old_decisions", schedule_type=DAILY)
    ]
