from .services import worker_heartbeat_beat


def worker_heartbeat() -> None:
    """Scheduled every minute (migration 0002): the worker's heartbeat for /ready/ and `healthcheck`."""
    worker_heartbeat_beat()
