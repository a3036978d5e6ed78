import sys

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "apps.ops"
    verbose_name = "Operations"

    def ready(self):
        from . import receivers  # noqa: F401
        from .exporters import process_exporter_start
        from .heartbeats import worker_heartbeat_start

        # The feed and the worker serve their own counters on a port of their own
        # (off unless METRICS_PORT_FEED / METRICS_PORT_WORKER is set).
        process_exporter_start(argv=sys.argv)
        # Each qcluster process (worker, backtests) writes its own heartbeat row.
        worker_heartbeat_start(argv=sys.argv)
