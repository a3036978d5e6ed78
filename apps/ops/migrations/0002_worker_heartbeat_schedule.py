"""Every minute a worker records its heartbeat (apps.ops.tasks.worker_heartbeat) for /ready/."""

from django.db import migrations

from apps.common.schedules import EVERY_MINUTE, schedule_operation

SCHEDULE_NAME = "ops-worker-heartbeat"


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name=SCHEDULE_NAME, func="apps.ops.tasks.worker_heartbeat", schedule_type=EVERY_MINUTE)
    ]
