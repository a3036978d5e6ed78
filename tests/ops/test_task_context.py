"""A request's id (and user id) flows into the tasks it enqueues: pre_enqueue packs them, pre_execute sets them."""

import logging
from decimal import Decimal

import pytest
from django_q.models import OrmQ
from django_q.signals import pre_execute
from django_q.tasks import async_task

from apps.notifications.models import NotificationPreferences
from apps.ops import context

seen: list[tuple] = []


def remember_context() -> None:
    """A task: what its log lines would carry."""
    seen.append((context.request_id.get(), context.task_id.get(), context.user_id.get()))
    logging.getLogger("apps.test").info("inside the task")


def as_in_a_request(request_id, user_id):
    return [context.request_id.set(request_id), context.user_id.set(user_id), context.task_id.set(None)]


def leave(tokens):
    context.task_id.reset(tokens[2])
    context.user_id.reset(tokens[1])
    context.request_id.reset(tokens[0])


def test_a_task_runs_with_the_request_id_and_user_of_the_request_that_enqueued_it(db, caplog):
    seen.clear()
    tokens = as_in_a_request("req-0123456789", 42)
    try:
        task_id = async_task("tests.ops.test_task_context.remember_context", sync=True)
        # After the task, the request's own context is back.
        assert (context.request_id.get(), context.task_id.get(), context.user_id.get()) == ("req-0123456789", None, 42)
    finally:
        leave(tokens)
    assert seen == [("req-0123456789", task_id, 42)]
    (record,) = [r for r in caplog.records if r.getMessage() == "inside the task"]
    assert (record.request_id, record.task_id, record.user_id) == ("req-0123456789", task_id, 42)


def test_the_request_id_travels_in_the_queued_package(db):
    tokens = as_in_a_request("req-abcdefghij", 7)
    try:
        async_task("tests.ops.test_task_context.remember_context", sync=False)
    finally:
        leave(tokens)
    (queued,) = OrmQ.objects.all()
    assert queued.task["request_id"] == "req-abcdefghij"
    assert queued.task["user_id"] == 7


def test_a_task_enqueued_outside_any_request_carries_no_id(db):
    tokens = as_in_a_request(None, None)
    try:
        async_task("tests.ops.test_task_context.remember_context", sync=False)
    finally:
        leave(tokens)
    (queued,) = OrmQ.objects.all()
    assert "request_id" not in queued.task and "user_id" not in queued.task


@pytest.mark.django_db(transaction=True)
def test_a_task_run_from_a_real_request_carries_its_id(client, demo_account, feed):
    """A trader who watches their balance: a purchase queues the low-balance check once it commits, inside the request.

    (Tasks run inline in tests.)
    """
    NotificationPreferences.objects.create(user=demo_account.user, low_balance_threshold=Decimal("100"))
    ran = []

    def spy(sender, task, **kwargs):
        ran.append((task["func"], context.request_id.get(), context.user_id.get()))

    # Connected after ops' own receiver: it sees the context that receiver set.
    pre_execute.connect(spy, dispatch_uid="tests.ops.spy")
    try:
        client.force_login(demo_account.user)
        order = {"market": "OTC_EUR_USD", "direction": "RISE", "stake": "1.00", "duration": "5", "duration_unit": "t"}
        response = client.post(
            "/trade/buy/", order | {"idempotency_key": "ops-1"}, HTTP_X_REQUEST_ID="req-purchase-0001"
        )
    finally:
        pre_execute.disconnect(dispatch_uid="tests.ops.spy")
    assert response.status_code == 302
    assert [func for func, _request_id, _user_id in ran] == ["apps.notifications.tasks.low_balance_check"]
    assert {(request_id, user_id) for _func, request_id, user_id in ran} == {
        ("req-purchase-0001", demo_account.user_id)
    }
