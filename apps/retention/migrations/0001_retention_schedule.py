"""Every day the worker applies the retention settings (apps.retention.tasks.retention_run)."""

from django.db import migrations

from apps.common.schedules import DAILY, schedule_operation

SCHEDULE_NAME = "retention-daily"


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name=SCHEDULE_NAME, func="apps.retention.tasks.retention_run", schedule_type=DAILY)
    ]
