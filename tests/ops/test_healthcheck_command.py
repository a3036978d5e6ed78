from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.conf import Conf

from apps.markets.models import Source
from apps.ops.models import WorkerHeartbeat

from .conftest import feed_beat, worker_beat


@pytest.mark.parametrize("process", ["worker", "feed"])
def test_a_fresh_heartbeat_passes(alive, process, capsys):
    call_command("healthcheck", process=process)
    assert capsys.readouterr().out == f"{process}: ok\n"


def test_a_stale_worker_fails_with_its_age(alive):
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(seconds=600))
    with pytest.raises(CommandError, match=r"worker: last heartbeat 600 s ago \(limit 180 s\)"):
        call_command("healthcheck", process="worker")
    # The feed's own check is unaffected.
    call_command("healthcheck", process="feed")


def test_a_worker_that_never_ran_fails(db):
    feed_beat()
    with pytest.raises(CommandError, match="worker: no heartbeat yet"):
        call_command("healthcheck", process="worker")


def test_the_worker_checks_its_own_host_only(db):
    """Scaled out: another container's fresh heartbeat does not vouch for this one."""
    worker_beat("nexus", host="worker-2", pid=7)
    with pytest.raises(CommandError, match="worker: no heartbeat yet"):
        call_command("healthcheck", process="worker")
    worker_beat("nexus", ago=200)
    with pytest.raises(CommandError, match=r"worker: last heartbeat 200 s ago"):
        call_command("healthcheck", process="worker")


def test_a_restarted_process_counts_by_its_fresh_row(db, capsys):
    worker_beat("nexus", pid=10, ago=3000)
    worker_beat("nexus", pid=11)
    call_command("healthcheck", process="worker")
    assert capsys.readouterr().out == "worker: ok\n"


def test_the_backtests_container_checks_the_backtests_cluster(db, monkeypatch, capsys):
    # What django-q2 reads from Q_CLUSTER_NAME=backtests when the process starts.
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "backtests")
    worker_beat("nexus")
    with pytest.raises(CommandError, match="worker_backtests: no heartbeat yet"):
        call_command("healthcheck", process="worker")
    worker_beat("backtests")
    call_command("healthcheck", process="worker")
    assert capsys.readouterr().out == "worker: ok\n"


def test_a_stale_feed_fails(alive):
    feed_beat(ago=31)
    with pytest.raises(CommandError, match="feed_otc: last heartbeat 31 s ago"):
        call_command("healthcheck", process="feed")


def test_with_deriv_enabled_the_feed_needs_both_heartbeats(alive, settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": True}
    with pytest.raises(CommandError, match="feed_deriv: no heartbeat yet"):
        call_command("healthcheck", process="feed")
    feed_beat(Source.DERIV)
    call_command("healthcheck", process="feed")


def test_the_command_exits_non_zero(alive, settings):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "healthcheck", "--process", "worker"],
        capture_output=True,
        text=True,
        env={"PATH": "", "DEBUG": "on", "DATABASE_URL": "sqlite:////nonexistent/dir/nexus.sqlite3"},
        cwd=settings.BASE_DIR,
    )
    assert result.returncode != 0
    assert "database unreachable" in result.stderr
