"""The feed's and the worker's own metrics, each on a port of its own.

Counters live in the process that counts: ticks in the feed, settlements and
decisions in the worker. The web process serves its own at /metrics; these
two serve theirs over prometheus_client's HTTP server, started when Django is
set up for `runfeed` or `qcluster` and its port is set (off by default):

- feed (`runfeed`) and Deriv manager (`run_deriv`), one process each, with
  threads: the default registry, as is.
- worker (`qcluster`): django-q2 forks its worker processes, so counters are
  summed through prometheus_client's multiprocess mode: settings.py points
  PROMETHEUS_MULTIPROC_DIR at an emptied directory before anything imports
  prometheus_client, each process writes its values there, and the qcluster
  process serves their sum.

Neither serves the database-backed gauges (apps.ops.collectors): the web
process reads those once per scrape for the whole deployment.
"""

import logging
import os
from wsgiref.simple_server import WSGIServer

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# command -> (process, setting naming its port)
PROCESSES = {
    "runfeed": ("feed", "METRICS_PORT_FEED"),
    "qcluster": ("worker", "METRICS_PORT_WORKER"),
    "run_deriv": ("deriv", "METRICS_PORT_DERIV"),
}


def worker_registry(path: str) -> CollectorRegistry:
    """The sum of every worker process's values written under `path`."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry


def process_exporter_start(*, argv: list[str]) -> WSGIServer | None:
    """Serve this process's metrics if it is the feed, the worker or the Deriv manager and its port is set."""
    command = argv[1] if len(argv) > 1 else ""
    if command not in PROCESSES:
        return None
    process, setting = PROCESSES[command]
    port = getattr(settings, setting)
    if not port:
        return None
    if process == "worker":
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not path:
            logger.error("worker metrics need PROMETHEUS_MULTIPROC_DIR (set by settings.py for qcluster); not serving")
            return None
        registry = worker_registry(path)
    else:
        registry = REGISTRY
    server, _thread = start_http_server(port, addr=settings.METRICS_ADDRESS, registry=registry)
    logger.info("%s metrics on %s:%d", process, settings.METRICS_ADDRESS, port)
    return server
