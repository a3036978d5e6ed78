from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by a task on a one-minute django-q2 schedule: a fresh row proves a worker runs tasks.

    django-q2's own cluster stats live in the cache, which without Redis is
    each process's memory; this row is readable from every process, and it
    proves the whole path (scheduler, broker, a worker, the database).
    """

    cluster = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} worker at {self.beat_at:%Y-%m-%d %H:%M:%S}"
