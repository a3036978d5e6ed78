"""Sending domain events (plain Django signals) once the current transaction commits.

Every app sends its own facts from its `signals.py`; other apps connect their
receivers in `receivers.py` from `AppConfig.ready()`. The README's events
table lists who sends what and who listens.
"""

from django.db import transaction
from django.dispatch import Signal


def send_after_commit(signal: Signal, sender, **kwargs) -> None:
    """Send `signal` once the current transaction commits (at once outside one).

    `send_robust`: one failing receiver never stops the others; Django logs
    each failure on the `django.dispatch` logger. Nothing after a commit may
    turn the committed work into an error (a receiver that enqueues a task
    while Redis is down): the callback is robust too.
    """
    transaction.on_commit(lambda: signal.send_robust(sender=sender, **kwargs), robust=True)
