"""Worker heartbeats per qcluster process, written by a thread of each process; the scheduled task goes.

The rows of the scheduled task (one per cluster, no host) say nothing about
a process: they are deleted before the host and pid columns arrive (and the
per-process rows before the column is unique again, when reversed).
"""

from django.db import migrations, models

from apps.common.schedules import EVERY_MINUTE, schedule_operation

# Migration 0002's schedule, run backwards: deleted going forwards, made again when reversed.
_SCHEDULE = schedule_operation(
    name="ops-worker-heartbeat", func="apps.ops.tasks.worker_heartbeat", schedule_type=EVERY_MINUTE
)


def delete_rows(apps, schema_editor):
    apps.get_model("ops", "WorkerHeartbeat").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0002_worker_heartbeat_schedule")]

    operations = [
        migrations.RunPython(_SCHEDULE.reverse_code, _SCHEDULE.code),
        migrations.RunPython(delete_rows, migrations.RunPython.noop),
        migrations.AlterField(model_name="workerheartbeat", name="cluster", field=models.CharField(max_length=100)),
        migrations.AddField(
            model_name="workerheartbeat",
            name="host",
            field=models.CharField(default="", max_length=255),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="workerheartbeat",
            name="pid",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="workerheartbeat",
            constraint=models.UniqueConstraint(fields=("cluster", "host", "pid"), name="worker_heartbeat_process"),
        ),
        migrations.AddIndex(
            model_name="workerheartbeat",
            index=models.Index(fields=["cluster", "beat_at"], name="worker_heartbeat_cluster_beat"),
        ),
        # Reversed, several processes' rows of one cluster would break the unique cluster column.
        migrations.RunPython(migrations.RunPython.noop, delete_rows),
    ]
