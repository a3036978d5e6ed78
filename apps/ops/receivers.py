"""Metrics from the domain apps' signals, and log context carried into django-q2 tasks."""

from collections import Counter
from contextvars import ContextVar

from django.core.signals import request_finished
from django.db import transaction
from django.db.models import Count
from django.dispatch import receiver
from django_q.signals import post_execute_in_worker, pre_enqueue, pre_execute

from apps.markets.models import Market
from apps.markets.signals import ticks_committed
from apps.trading.models import Contract
from apps.trading.signals import contracts_settled

from . import context, metrics


@receiver(ticks_committed, dispatch_uid="ops.count_ticks")
def count_ticks(sender, market_ids, **kwargs):
    symbols = dict(Market.objects.filter(pk__in=set(market_ids)).values_list("id", "symbol"))
    for market_id in market_ids:
        metrics.TICKS_COMMITTED.labels(market=symbols.get(market_id, str(market_id))).inc()


@receiver(contracts_settled, dispatch_uid="ops.count_settlements")
def count_settlements(sender, results, **kwargs):
    """Counted once the settlement commits (a rolled-back batch is settled again later).

    Sent inside the settlement's transaction, where a receiver that raises
    rolls the batch back: the work is deferred to after commit, where one
    query over the batch's ids reads each contract's exit time and settlement
    time for the lag (grouped: one row per exit tick), and a failure is only
    logged (robust).
    """
    settled = [(contract_id, status) for contract_id, status, _stake, _paid in results]
    transaction.on_commit(lambda: observe_settlements(settled), robust=True)


def observe_settlements(settled: list[tuple[int, str]]) -> None:
    for status, count in Counter(status for _contract_id, status in settled).items():
        metrics.CONTRACTS_SETTLED.labels(status=status).inc(count)
    # A batch settles at one instant and its contracts exit on a few ticks:
    # grouped, the query returns a handful of rows, whatever the batch size.
    ids = [contract_id for contract_id, _status in settled]
    for start in range(0, len(ids), 5000):
        rows = (
            Contract.objects.filter(pk__in=ids[start : start + 5000], exit_time__isnull=False, settled_at__isnull=False)
            .values_list("exit_time", "settled_at")
            .annotate(n=Count("id"))
            .order_by()
        )
        for exit_time, settled_at, count in rows:
            lag = max((settled_at - exit_time).total_seconds(), 0.0)
            for _ in range(count):
                metrics.SETTLEMENT_LAG.observe(lag)


# --- Request ids into tasks ----------------------------------------------------
# A task enqueued while a request (or another task) is served carries that
# request's id and user id in its package; the worker sets them, with the
# task's own id, around the task. Sync tasks (Q_SYNC) run inside the caller:
# what the caller had is restored afterwards.
_outer: ContextVar[tuple] = ContextVar("ops_outer_task_context", default=())


@receiver(pre_enqueue, dispatch_uid="ops.task_carries_request_id")
def task_carries_request_id(sender, task, **kwargs):
    if (request_id := context.request_id.get()) is not None:
        task["request_id"] = request_id
    if (user_id := context.user_id.get()) is not None:
        task["user_id"] = user_id


@receiver(pre_execute, dispatch_uid="ops.task_context_enter")
def task_context_enter(sender, task, **kwargs):
    outer = (context.request_id.get(), context.task_id.get(), context.user_id.get())
    _outer.set((*_outer.get(), outer))
    context.request_id.set(task.get("request_id"))
    context.task_id.set(task.get("id"))
    context.user_id.set(task.get("user_id"))


@receiver(post_execute_in_worker, dispatch_uid="ops.task_context_leave")
def task_context_leave(sender, task, **kwargs):
    stack = _outer.get()
    if not stack:
        return
    *rest, (request_id, task_id, user_id) = stack
    _outer.set(tuple(rest))
    context.request_id.set(request_id)
    context.task_id.set(task_id)
    context.user_id.set(user_id)


@receiver(request_finished, dispatch_uid="ops.request_context_clear")
def request_context_clear(sender, **kwargs):
    """A request's ids end with it (a thread that serves the next one starts clean)."""
    context.request_id.set(None)
    context.user_id.set(None)
