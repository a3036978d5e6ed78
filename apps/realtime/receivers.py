"""Live pages follow the other apps' facts: each pushes the fragments it changed.

Ticks and signals are rendered once per market and pushed here, in the
sender's process. A user's state (balance, positions, bell, bots) costs a
dozen queries to render: it is pushed by the worker, once the transaction
that changed it commits.
"""

import weakref
from collections.abc import Iterable

from django.db import transaction
from django.dispatch import receiver
from django_q.tasks import async_task

from apps.bots.signals import bots_changed, signals_decided
from apps.deriv.signals import deriv_accounts_changed
from apps.markets.signals import ticks_committed
from apps.notifications.signals import notifications_created, notifications_read
from apps.trading.signals import contracts_bought, contracts_opened, contracts_settled

from .push import push_signals, push_ticks

# Users whose state waits for the current transaction to commit, per database
# connection (each thread has its own): however many facts a transaction
# tells, the worker gets one push task with every user they touched.
_waiting: "weakref.WeakKeyDictionary[object, set[int]]" = weakref.WeakKeyDictionary()


def user_state_push(user_ids: Iterable[int]) -> None:
    """Queue one push of these users' state for the worker once the current transaction commits (at once outside one).

    Every fact registers the flush, and the first flush to run takes every
    waiting user: a flush registered inside a savepoint that rolls back is
    dropped, one registered earlier still runs. Users left waiting by a
    transaction that rolled back go with the next flush (a push of true
    state, harmless).
    """
    connection = transaction.get_connection()
    _waiting.setdefault(connection, set()).update(user_ids)
    transaction.on_commit(lambda: _flush(connection))


def _flush(connection) -> None:
    if ids := _waiting.pop(connection, None):
        async_task("apps.realtime.tasks.push_user_state", sorted(ids), group="push")


@receiver(ticks_committed, dispatch_uid="realtime.push_ticks")
def ticks_to_markets(sender, market_ids: list[int], **kwargs) -> None:
    push_ticks(market_ids)


@receiver(signals_decided, dispatch_uid="realtime.push_signals")
def signals_to_markets(sender, market_ids: list[int], **kwargs) -> None:
    push_signals(market_ids)


@receiver(notifications_created, dispatch_uid="realtime.push_notifications")
def notifications_to_users(sender, notification_ids: list[int], **kwargs) -> None:
    """Each trader's state and one toast per new notification, rendered by the worker."""
    async_task("apps.realtime.tasks.push_notifications", list(notification_ids), group="push")


@receiver(
    [notifications_read, contracts_bought, contracts_opened, contracts_settled, bots_changed, deriv_accounts_changed],
    dispatch_uid="realtime.push_user_state",
)
def state_to_users(sender, user_ids: Iterable[int], **kwargs) -> None:
    """Balance, positions, bell and bots changed for these users.

    `contracts_settled` arrives inside the settlement's transaction: the push
    waits for its commit, with the users of every other fact sent meanwhile.
    """
    user_state_push(user_ids)
