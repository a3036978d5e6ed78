import os
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from apps.ops.heartbeats import WorkerHeartbeatThread, worker_heartbeat_start
from apps.ops.models import WorkerHeartbeat
from apps.ops.services import worker_heartbeat_beat

from .conftest import worker_beat


@pytest.mark.django_db(transaction=True)
def test_the_thread_writes_its_process_row_until_stopped():
    thread = WorkerHeartbeatThread(cluster="backtests", host="worker-1", pid=4242, every_s=0.05)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not WorkerHeartbeat.objects.filter(cluster="backtests", host="worker-1", pid=4242).exists():
            assert time.monotonic() < deadline, "no heartbeat row within 5 s"
            time.sleep(0.02)
        first = WorkerHeartbeat.objects.get().beat_at
        deadline = time.monotonic() + 5
        while WorkerHeartbeat.objects.get().beat_at == first:
            assert time.monotonic() < deadline, "the row was not beaten again within 5 s"
            time.sleep(0.02)
    finally:
        thread.stopped.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert WorkerHeartbeat.objects.count() == 1


def test_only_a_qcluster_process_starts_a_thread():
    assert worker_heartbeat_start(argv=["manage.py", "runfeed"]) is None
    assert worker_heartbeat_start(argv=["manage.py"]) is None


@pytest.mark.django_db(transaction=True)
def test_a_qcluster_process_beats_as_its_cluster_host_and_pid():
    thread = worker_heartbeat_start(argv=["manage.py", "qcluster"])
    thread.stopped.set()
    thread.join(timeout=5)
    assert list(WorkerHeartbeat.objects.values_list("cluster", "host", "pid")) == [
        ("nexus", socket.gethostname(), os.getpid())
    ]


def test_a_beat_forgets_hosts_gone_for_a_day(db):
    worker_beat("nexus", host="old-container", pid=1, ago=timedelta(days=1, minutes=1).total_seconds())
    worker_beat("backtests", host="quiet-container", pid=1, ago=timedelta(hours=23).total_seconds())
    worker_heartbeat_beat(cluster="nexus", host="worker-1", pid=2)
    assert set(WorkerHeartbeat.objects.values_list("host", flat=True)) == {"quiet-container", "worker-1"}
    assert timezone.now() - WorkerHeartbeat.objects.get(host="worker-1").beat_at < timedelta(seconds=5)


def test_no_schedule_runs_a_heartbeat_task(db):
    assert not Schedule.objects.filter(name="ops-worker-heartbeat").exists()
