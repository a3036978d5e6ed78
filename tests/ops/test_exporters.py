import os
import socket
import subprocess
import sys
from urllib.request import urlopen

import pytest

from apps.ops.exporters import process_exporter_start, worker_registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv", [["manage.py"], ["manage.py", "migrate"], ["daphne", "nexus.asgi:application"]])
def test_other_processes_start_no_metrics_server(settings, argv):
    settings.METRICS_PORT_FEED = settings.METRICS_PORT_WORKER = free_port()
    assert process_exporter_start(argv=argv) is None


def test_the_feed_and_worker_servers_are_off_by_default(settings):
    assert (settings.METRICS_PORT_FEED, settings.METRICS_PORT_WORKER) == (0, 0)
    assert process_exporter_start(argv=["manage.py", "runfeed"]) is None
    assert process_exporter_start(argv=["manage.py", "qcluster"]) is None


def test_the_feed_serves_its_own_counters_on_its_port(settings):
    settings.METRICS_PORT_FEED = port = free_port()
    server = process_exporter_start(argv=["manage.py", "runfeed", "--source", "otc"])
    try:
        body = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "nexus_ticks_committed_total" in body
    # The database-backed gauges are the web process's alone.
    assert "nexus_open_contracts" not in body


def test_the_worker_needs_the_multiprocess_directory(settings, monkeypatch, caplog):
    settings.METRICS_PORT_WORKER = free_port()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert process_exporter_start(argv=["manage.py", "qcluster"]) is None
    assert "PROMETHEUS_MULTIPROC_DIR" in caplog.text


def test_the_worker_serves_the_sum_of_its_processes(settings, monkeypatch, tmp_path):
    """Each forked worker writes its own values; the qcluster process serves their sum."""
    count = (
        "from prometheus_client import Counter;"
        "Counter('nexus_contracts_settled', 'x', ['status']).labels(status='WON').inc(2)"
    )
    for _ in range(2):  # two worker processes
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
        subprocess.run([sys.executable, "-c", count], env=env, check=True)
    assert worker_registry(str(tmp_path)).get_sample_value("nexus_contracts_settled_total", {"status": "WON"}) == 4

    settings.METRICS_PORT_WORKER = port = free_port()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server = process_exporter_start(argv=["manage.py", "qcluster"])
    try:
        body = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'nexus_contracts_settled_total{status="WON"} 4.0' in body
