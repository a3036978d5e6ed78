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
