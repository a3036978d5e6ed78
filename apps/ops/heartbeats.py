"""Each qcluster process's heartbeat: a daemon thread of the qcluster main process writes its row.

Started when Django is set up for `qcluster` (OpsConfig.ready): django-q2 has
no signal for a cluster's start (its `post_spawn` is each forked worker's).
The thread lives in the main process, which lives exactly as long as the
cluster's sentinel (it waits for it, and exits when it dies); a fork copies
only the forking thread, so the sentinel and its workers do not beat too.
"""

import logging
import os
import socket
import threading

from django.db import close_old_connections, connections
from django_q.conf import Conf

from .services import worker_heartbeat_beat

logger = logging.getLogger(__name__)

# Well inside WORKER_HEARTBEAT_MAX_AGE_S (180 s by default): a beat or two may fail.
WORKER_HEARTBEAT_EVERY_S = 30.0


class WorkerHeartbeatThread(threading.Thread):
    """Writes the row of (cluster, host, pid) at once, then every `every_s` until `stopped` is set."""

    def __init__(self, *, cluster: str, host: str, pid: int, every_s: float = WORKER_HEARTBEAT_EVERY_S):
        super().__init__(name=f"worker-heartbeat-{cluster}", daemon=True)
        self.cluster, self.host, self.pid, self.every_s = cluster, host, pid, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while True:
                self.beat()
                if self.stopped.wait(self.every_s):
                    return
        finally:
            connections.close_all()  # this thread's own connections

    def beat(self) -> None:
        # A connection dropped since the last beat (database restarted) is replaced, not reused.
        close_old_connections()
        try:
            worker_heartbeat_beat(cluster=self.cluster, host=self.host, pid=self.pid)
        except Exception:
            # A database that is down for a while makes the row stale, which is the alarm; the thread goes on.
            logger.exception("worker heartbeat of %s not written", self.cluster)


def worker_heartbeat_start(*, argv: list[str]) -> WorkerHeartbeatThread | None:
    """Start the heartbeat thread if this process is a qcluster (of the cluster named by Q_CLUSTER_NAME)."""
    command = argv[1] if len(argv) > 1 else ""
    if command != "qcluster":
        return None
    thread = WorkerHeartbeatThread(cluster=Conf.CLUSTER_NAME, host=socket.gethostname(), pid=os.getpid())
    thread.start()
    return thread
