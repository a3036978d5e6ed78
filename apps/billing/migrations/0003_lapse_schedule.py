"""Every minute the worker lapses past-due subscriptions whose grace period ended (each told once)."""

from django.db import migrations, models

from apps.common.schedules import EVERY_MINUTE, schedule_operation

SCHEDULE_NAME = "billing-lapse-past-due"


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_plans"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="lapsed_at",
            field=models.DateTimeField(blank=True, help_text="When the grace period ended unpaid.", null=True),
        ),
        schedule_operation(name=SCHEDULE_NAME, func="apps.billing.tasks.lapse_past_due", schedule_type=EVERY_MINUTE),
    ]
