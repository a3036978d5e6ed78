"""Live pages follow the other apps' facts: each pushes the fragments it changed.

Ticks and signals are rendered once per market and pushed here, in the
sender's process. A user's state (balance, positions, bell, bots) costs a
dozen queries to render: it is pushed by the worker, once the transaction
that changed it commits.
"""

import logging
import weakref
from collections.abc import Iterable

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django_q.tasks import async_task

from apps.billing.signals import subscription_changed
from apps.bots.signals import bots_changed, signals_decided
from apps.deriv.signals import deriv_accounts_changed
from apps.exchanges.signals import spot_changed
from apps.markets.signals import ticks_committed
from apps.notifications.signals import notifications_created, notifications_read
from apps.trading.signals import contracts_bought, contracts_opened, contracts_settled
from apps.users.signals import sessions_ended

from . import limits
from .push import group_send_sync, push_signals, push_ticks, tell_state_stale, user_group

logger = logging.getLogger(__name__)


class _Pending:
    """One database connection's users waiting for its transaction to commit (each thread has its own)."""

    def __init__(self):
        self.users: set[int] = set()
        # The users whose push the commit hooks now running already queued,
        # and which run of hooks that was (see _commit_hooks).
        self.queued: set[int] = set()
        self.hooks: list | None = None


_pending: "weakref.WeakKeyDictionary[object, _Pending]" = weakref.WeakKeyDictionary()


def _commit_hooks(connection) -> list | None:
    """The run of on_commit callbacks under way on this connection, None outside one.

    Django runs a committed transaction's callbacks outside any atomic block,
    with `run_commit_hooks_on_set_autocommit_on` up, from a fresh
    `run_on_commit` list; facts sent after commit reach their receivers
    there. Read with getattr: if Django renames them, facts after commit only
    cost an extra task.
    """
    if connection.in_atomic_block or not getattr(connection, "run_commit_hooks_on_set_autocommit_on", False):
        return None
    return getattr(connection, "run_on_commit", None)


def user_state_push(user_ids: Iterable[int]) -> None:
    """Queue one push of these users' state for the worker once the current transaction commits (at once outside one).

    However many facts a transaction tells, the worker gets one task with
    every user they touched: facts told while it is open join one set,
    flushed by the first of their commit callbacks (each fact registers one,
    so a savepoint that rolls back never drops the flush); facts told after
    its commit (`bots_changed` after the settlement's `contracts_settled`)
    add no task for users that flush already queued. Users left waiting by a
    transaction that rolled back go with the next flush (a push of true
    state, harmless).
    """
    connection = transaction.get_connection()
    pending = _pending.get(connection)
    if pending is None:
        pending = _pending[connection] = _Pending()
    users = set(user_ids)
    hooks = _commit_hooks(connection)
    if hooks is not None and hooks is pending.hooks:
        users -= pending.queued
        if not users:
            return
    pending.users |= users
    transaction.on_commit(lambda: _flush(connection), robust=True)


def _flush(connection) -> None:
    pending = _pending.get(connection)
    if pending is None or not pending.users:
        return
    users, pending.users = pending.users, set()
    if (hooks := _commit_hooks(connection)) is not None:
        if hooks is not pending.hooks:
            pending.hooks, pending.queued = hooks, set()
        pending.queued |= users
    _enqueue_push("apps.realtime.tasks.push_user_state", sorted(users))


def _enqueue_push(task: str, ids: list[int]) -> None:
    """Hand a push to the worker, after a commit: never raise into whoever committed.

    With the broker (Redis) out of reach the push is lost, not the committed
    work: pages resync their state when their socket reconnects.
    """
    try:
        async_task(task, ids, group="push")
    except Exception:
        logger.warning("%s not queued for %d ids; pages resync on reconnect", task, len(ids), exc_info=True)


@receiver(ticks_committed, dispatch_uid="realtime.push_ticks")
def ticks_to_markets(sender, market_ids: list[int], **kwargs) -> None:
    push_ticks(market_ids)


@receiver(signals_decided, dispatch_uid="realtime.push_signals")
def signals_to_markets(sender, market_ids: list[int], **kwargs) -> None:
    push_signals(market_ids)


@receiver(notifications_created, dispatch_uid="realtime.push_notifications")
def notifications_to_users(sender, notification_ids: list[int], **kwargs) -> None:
    """Each trader's state and one toast per new notification, rendered by the worker."""
    _enqueue_push("apps.realtime.tasks.push_notifications", list(notification_ids))


@receiver(contracts_bought, dispatch_uid="realtime.tell_buyers")
def purchases_to_users(sender, user_ids: Iterable[int], **kwargs) -> None:
    """After commit: the buyers' open pages render their own state again, without a worker task per purchase."""
    tell_state_stale(user_ids)


@receiver(
    [notifications_read, contracts_opened, contracts_settled, bots_changed, deriv_accounts_changed, spot_changed],
    dispatch_uid="realtime.push_user_state",
)
def state_to_users(sender, user_ids: Iterable[int], **kwargs) -> None:
    """Balance, positions, bell, bots or spot trading changed for these users.

    `contracts_settled` arrives inside the settlement's transaction: the push
    waits for its commit, with the users of every other fact sent meanwhile.
    """
    user_state_push(user_ids)


@receiver(subscription_changed, dispatch_uid="realtime.push_billing")
def billing_to_user(sender, user_id: int, **kwargs) -> None:
    """The plan in force changed (sent after commit): the billing page's plan block, rendered by the worker."""
    _enqueue_push("apps.realtime.tasks.push_billing", [user_id])


def _close_sockets(user_id: int, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        group_send_sync(layer, user_group(user_id), message)
    except Exception:
        # Signing out must not fail for it; without a layer no socket is listening anyway.
        logger.warning("could not tell the sockets of user %s to close", user_id, exc_info=True)


def _session_key(request) -> str | None:
    return getattr(getattr(request, "session", None), "session_key", None)


@receiver(user_logged_out, dispatch_uid="realtime.close_on_sign_out")
def sockets_close_on_sign_out(sender, request, user, **kwargs) -> None:
    """The signed-out session's sockets close (every one of the user's when the session is unknown)."""
    if user is None:
        return
    _close_sockets(user.pk, limits.session_end_message(ended=limits.session_digest(_session_key(request))))


@receiver(sessions_ended, dispatch_uid="realtime.close_on_sessions_ended")
def sockets_close_on_sessions_ended(sender, user_id: int, session_keys: list[str], **kwargs) -> None:
    """Sessions signed out from another browser (Settings > Security): their sockets close."""
    for key in session_keys:
        _close_sockets(user_id, limits.session_end_message(ended=limits.session_digest(key)))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.password_hash_compare")
def password_hash_compare(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Note on the user being saved whether its password hash changes (read back only when the save may write it)."""
    instance._password_hash_changed = False
    if raw or instance._state.adding or (update_fields is not None and "password" not in update_fields):
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_hash_changed = stored is not None and stored != instance.password


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="realtime.close_on_password_change")
def sockets_close_on_password_change(sender, instance, **kwargs) -> None:
    """Every socket of the user closes once a new password hash commits, whoever set it.

    allauth's change and reset forms, the admin's password form and a plain
    `set_password` and save all end here. A new hash signs out every other
    session, and the one that changed it has a new session key by now: its
    pages open a new socket as they load.
    """
    if not getattr(instance, "_password_hash_changed", False):
        return
    instance._password_hash_changed = False
    user_id = instance.pk
    transaction.on_commit(lambda: _close_sockets(user_id, limits.session_end_message()), robust=True)
