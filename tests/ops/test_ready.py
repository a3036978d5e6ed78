import socket
from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from apps.markets.models import Source
from apps.ops.models import WorkerHeartbeat

from .conftest import feed_beat, worker_beat


def ready(client):
    response = client.get("/ready/")
    return response.status_code, response.json()


def test_ready_names_every_check_when_all_pass(client, alive):
    status, body = ready(client)
    assert status == 200
    assert body == {
        "status": "ok",
        "failing": [],
        "checks": {"database": "ok", "feed_otc": "ok", "worker": "ok", "worker_backtests": "ok", "task_queue": "ok"},
    }


def test_a_stale_feed_makes_it_unready_and_is_named(client, alive):
    feed_beat(ago=45)
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["feed_otc"]
    assert body["checks"]["feed_otc"] == "last heartbeat 45 s ago (limit 30 s)"
    assert body["checks"]["worker"] == "ok"


def test_a_feed_that_never_reported_is_unready(client, db):
    worker_beat("nexus")
    worker_beat("backtests")
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


def test_each_cluster_is_checked_on_its_own(client, alive):
    WorkerHeartbeat.objects.filter(cluster="backtests").update(beat_at=timezone.now() - timedelta(minutes=5))
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["worker_backtests"]
    assert body["checks"]["worker_backtests"] == "last heartbeat 300 s ago (limit 180 s)"
    assert body["checks"]["worker"] == "ok"


def test_a_cluster_without_any_heartbeat_is_named(client, alive):
    WorkerHeartbeat.objects.filter(cluster="nexus").delete()
    status, body = ready(client)
    assert status == 503
    assert body["failing"] == ["worker"]
    assert body["checks"]["worker"] == "no heartbeat yet"


def test_a_cluster_is_ready_while_one_of_its_processes_beats(client, alive):
    """Scaled out, one dead container is its own healthcheck's business; the cluster still serves."""
    worker_beat("nexus", host="worker-2", pid=1, ago=600)
    assert ready(client)[0] == 200
    WorkerHeartbeat.objects.exclude(host="worker-2").filter(cluster="nexus").delete()
    status, body = ready(client)
    assert status == 503
    assert body["checks"]["worker"] == "last heartbeat 600 s ago (limit 180 s)"


def test_a_long_task_queue_is_named(client, alive, settings):
    settings.OPS = {**settings.OPS, "READY_MAX_QUEUED_TASKS": 2}
    async_task("apps.ops.selectors.task_queue_depth", sync=False)
    assert ready(client)[0] == 200
    async_task("apps.ops.selectors.task_queue_depth", sync=False)
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
