from django.db import models


class WorkerHeartbeat(models.Model):
    """Written every interval by a thread of each qcluster process: a fresh row proves that process lives.

    One row per process (cluster, host, pid of the qcluster main process), so
    each worker container is checked on its own (`healthcheck --process
    worker` reads its host's row), not only whichever worker took a task.
    django-q2's own cluster stats live in the cache, which without Redis is
    each process's memory; these rows are readable from every process.
    """

    cluster = models.CharField(max_length=100)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    beat_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "host", "pid"], name="worker_heartbeat_process")]
        indexes = [models.Index(fields=["cluster", "beat_at"], name="worker_heartbeat_cluster_beat")]

    def __str__(self) -> str:
        return f"{self.cluster} worker {self.host}:{self.pid} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
