"""Real threads released together, for concurrency tests (each thread gets its own database connection)."""

import threading

from django.db import connection


def run_threads(n, target):
    """Run `target(i)` in n threads released together; returns (results, exceptions)."""
    barrier = threading.Barrier(n)
    results, exceptions = [None] * n, []
    lock = threading.Lock()

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except BaseException as exc:  # every failure is reported by the test
            with lock:
                exceptions.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, exceptions


class Interleaving:
    """Two threads, the second run while the first is held at `pause()` (called from a hook in its code).

    The first waits there until the second is done, or for `pause_s` when the
    second has to wait for the first (a lock it holds): then both finish in turn.
    """

    def __init__(self, pause_s: float = 2.0):
        self.pause_s = pause_s
        self.second_may_start = threading.Event()
        self.second_done = threading.Event()
        self.paused = False

    def pause(self):
        """Hold the first thread here; only the first call holds (the second thread may pass the same hook)."""
        if self.paused:
            return
        self.paused = True
        self.second_may_start.set()
        self.second_done.wait(timeout=self.pause_s)

    def run(self, first, second):
        """Run `first()` and `second()` in two threads; returns (results, exceptions) as run_threads."""

        def target(i):
            if i == 0:
                try:
                    return first()
                finally:
                    self.second_may_start.set()  # never leave the second waiting if the first failed early
            assert self.second_may_start.wait(timeout=60)
            try:
                return second()
            finally:
                self.second_done.set()

        return run_threads(2, target)
