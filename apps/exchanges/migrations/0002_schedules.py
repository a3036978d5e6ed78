from django.db import migrations

from apps.common.schedules import DAILY, EVERY_MINUTE, schedule_operation


class Migration(migrations.Migration):
    dependencies = [
        ("exchanges", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        schedule_operation(
            name="exchanges.poll_candles", func="apps.exchanges.tasks.poll_candles", schedule_type=EVERY_MINUTE
        ),
        schedule_operation(
            name="exchanges.load_markets", func="apps.exchanges.tasks.load_markets", schedule_type=DAILY
        ),
    ]
