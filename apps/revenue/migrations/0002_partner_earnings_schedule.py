"""Every day the worker tells each partner what their traders' wins paid them in markup the day before."""

from django.db import migrations

from apps.common.schedules import DAILY, schedule_operation

SCHEDULE_NAME = "revenue-partner-earnings-notify"


class Migration(migrations.Migration):
    dependencies = [
        ("revenue", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name=SCHEDULE_NAME, func="apps.revenue.tasks.partner_earnings_notify", schedule_type=DAILY)
    ]
