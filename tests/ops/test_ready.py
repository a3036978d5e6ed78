import socket
from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from apps.markets.models import Source
from apps.ops.models import WorkerHeartbeat

from .conftest import feed_beat


def ready(client):
    response = client.get("/ready/")
    return response.status_code, response.json()


def test_ready_names_every_check_when_all_pass(client, alive):
    status, body = ready(client)
    assert status == 200
    assert body == {
        "status": "ok",
        "failing": [],
        "checks": {"database": "ok", "feed_otc": "ok", "worker": "ok", "task_queue": "ok"},
    }


def test_a_stale_feed_makes_it_unready_and_is_named(client, alive):
    feed_beat(ago=45)
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["feed_otc"]
    assert body["checks"]["feed_otc"] == "last heartbeat 45 s ago (limit 30 s)"
    assert body["checks"]["worker"] == "ok"


def test_a_feed_that_never_reported_is_unready(client, db):
    WorkerHeartbeat.objects.create(cluster="nexus", beat_at=timezone.now())
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["feed_otc"]
    assert body["checks"]["feed_otc"] == "no heartbeat yet"


def test_the_deriv_feed_is_checked_only_when_deriv_is_enabled(client, alive, settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": True}
    status, body = ready(client)
    assert status == 503 and body["failing"] == ["feed_deriv"]
    feed_beat(Source.DERIV)
    assert ready(client)[0] == 200


def test_a_stale_worker_heartbeat_is_named(client, alive):
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=5))
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["worker"]


def test_a_long_task_queue_is_named(client, alive, settings):
    settings.OPS = {**settings.OPS, "READY_MAX_QUEUED_TASKS": 2}
    async_task("apps.ops.tasks.worker_heartbeat", sync=False)
    assert ready(client)[0] == 200
    async_task("apps.ops.tasks.worker_heartbeat", sync=False)
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["task_queue"]
    assert body["checks"]["task_queue"] == "2 tasks queued (limit 2)"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_is_checked_when_configured_and_named_when_unreachable(client, alive, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"].startswith("Unable to connect to Redis")


def test_the_worker_heartbeat_task_writes_the_heartbeat(db):
    async_task("apps.ops.tasks.worker_heartbeat")  # runs inline under test settings
    beat = WorkerHeartbeat.objects.get(cluster="nexus")
    assert timezone.now() - beat.beat_at < timedelta(seconds=5)


def test_a_schedule_runs_the_worker_heartbeat_every_minute(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="ops-worker-heartbeat")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "apps.ops.tasks.worker_heartbeat",
        Schedule.MINUTES,
        1,
        -1,
    )
