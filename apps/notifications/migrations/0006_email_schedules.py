"""The worker's email schedules: the outbox sweep, the daily summaries and the dead-man's switch."""

from django.db import migrations

from apps.common.schedules import schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_email_outbox_preferences"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(name="notifications-outbox-sweep", func="apps.notifications.tasks.outbox_sweep"),
        # Every minute: each time zone's 07:00 (including those at :30 and :45) is met within a minute.
        schedule_operation(name="notifications-daily-summaries", func="apps.notifications.tasks.digests_send"),
        schedule_operation(name="notifications-deadman-check", func="apps.notifications.tasks.deadman_check"),
    ]
