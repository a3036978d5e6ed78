"""Every fact that changes what a page shows queues its push once the transaction commits."""

import logging

import pytest
from django.db import transaction

from apps.bots.models import Bot
from apps.bots.signals import bots_changed
from apps.common.events import send_after_commit
from apps.deriv.signals import deriv_accounts_changed
from apps.notifications.models import Kind, Notification
from apps.notifications.services import notification_create, notifications_mark_all_read
from apps.notifications.signals import notifications_created
from apps.realtime.receivers import user_state_push
from apps.trading.models import Contract
from apps.trading.signals import contracts_bought, contracts_opened, contracts_settled

USER_STATE = "apps.realtime.tasks.push_user_state"
NOTIFICATIONS = "apps.realtime.tasks.push_notifications"


@pytest.fixture
def queued(monkeypatch, db, django_capture_on_commit_callbacks):
    """The push tasks realtime hands to the worker from now on, in order."""
    tasks = []
    monkeypatch.setattr(
        "apps.realtime.receivers.async_task", lambda name, *args, **kwargs: tasks.append((name, *args, kwargs))
    )
    # Users still waiting from earlier tests (their transactions rolled back)
    # go with the next push: send it now, so each test sees only its own.
    with django_capture_on_commit_callbacks(execute=True):
        user_state_push([])
    tasks.clear()
    return tasks


def test_new_notifications_queue_their_toasts_and_state(queued, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = notification_create(user=user, kind=Kind.CONTRACT_WON, title="Won")
        assert queued == []
    assert queued == [(NOTIFICATIONS, [notification.pk], {"group": "push"})]


def test_reading_notifications_queues_the_readers_state(queued, user, django_capture_on_commit_callbacks):
    notification_create(user=user, kind=Kind.CONTRACT_WON, title="Won")
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notifications_mark_all_read(user=user)
    assert queued == [(USER_STATE, [user.pk], {"group": "push"})]


def test_reading_nothing_new_pushes_nothing(queued, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notifications_mark_all_read(user=user)
    assert queued == []


@pytest.mark.parametrize(
    ("signal", "sender", "facts"),
    [
        (contracts_opened, Contract, {"contract_ids": [7]}),
        (bots_changed, Bot, {}),
        (deriv_accounts_changed, None, {}),
    ],
    ids=["contracts_opened", "bots_changed", "deriv_accounts_changed"],
)
def test_after_commit_facts_queue_one_push_of_their_users_state(
    queued, db, django_capture_on_commit_callbacks, signal, sender, facts
):
    with django_capture_on_commit_callbacks(execute=True):
        send_after_commit(signal, sender=sender, user_ids=[5, 3, 5], **facts)
        assert queued == []
    assert queued == [(USER_STATE, [3, 5], {"group": "push"})]


def test_settled_contracts_push_once_the_settlement_commits(queued, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        contracts_settled.send(sender=Contract, results=[], user_ids=[4, 2])
        assert queued == []
    assert queued == [(USER_STATE, [2, 4], {"group": "push"})]


def test_facts_of_one_transaction_queue_one_push_with_every_user(queued, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        contracts_settled.send(sender=Contract, results=[], user_ids=[1, 2])
        contracts_settled.send(sender=Contract, results=[], user_ids=[2, 3])
    assert queued == [(USER_STATE, [1, 2, 3], {"group": "push"})]


def test_facts_told_after_the_commit_join_the_push_the_transaction_queued(queued, transactional_db):
    """A settlement's `contracts_settled` (inside) and the bots' `bots_changed` (after commit): one task."""
    with transaction.atomic():
        contracts_settled.send(sender=Contract, results=[], user_ids=[1, 2])
        send_after_commit(bots_changed, sender=Bot, user_ids=[2])
        send_after_commit(deriv_accounts_changed, sender=None, user_ids=[1])
    assert queued == [(USER_STATE, [1, 2], {"group": "push"})]
    # Users that push did not cover still get theirs.
    with transaction.atomic():
        contracts_settled.send(sender=Contract, results=[], user_ids=[1])
        send_after_commit(bots_changed, sender=Bot, user_ids=[1, 3])
    assert queued[1:] == [(USER_STATE, [1], {"group": "push"}), (USER_STATE, [3], {"group": "push"})]
    # A later transaction's facts are pushed again, also for the same users.
    with transaction.atomic():
        send_after_commit(bots_changed, sender=Bot, user_ids=[1])
    bots_changed.send_robust(sender=Bot, user_ids=[1])
    assert queued[3:] == [(USER_STATE, [1], {"group": "push"})] * 2


def test_outside_a_transaction_the_push_is_queued_at_once(queued, transactional_db):
    contracts_settled.send(sender=Contract, results=[], user_ids=[9])
    assert queued == [(USER_STATE, [9], {"group": "push"})]
    bots_changed.send_robust(sender=Bot, user_ids=[9])
    assert queued == [(USER_STATE, [9], {"group": "push"})] * 2


def test_users_of_a_rolled_back_transaction_do_not_stop_later_pushes(queued, transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        contracts_settled.send(sender=Contract, results=[], user_ids=[1])
        raise RuntimeError("settlement failed")
    assert queued == []
    with transaction.atomic():
        contracts_settled.send(sender=Contract, results=[], user_ids=[2])
    assert queued == [(USER_STATE, [1, 2], {"group": "push"})]


def test_a_failing_receiver_does_not_stop_the_others(monkeypatch, user, django_capture_on_commit_callbacks, caplog):
    def broken(name, *args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("apps.realtime.receivers.async_task", broken)
    heard = []

    def listener(sender, notification_ids, **kwargs):
        heard.append(notification_ids)

    notifications_created.connect(listener, dispatch_uid="test.listener")
    try:
        with (
            caplog.at_level(logging.WARNING),
            django_capture_on_commit_callbacks(execute=True),
        ):
            notification = notification_create(user=user, kind=Kind.CONTRACT_WON, title="Won")
    finally:
        notifications_created.disconnect(dispatch_uid="test.listener")
    assert heard == [[notification.pk]]
    # The push is lost (pages resync on reconnect), logged with why.
    assert "apps.realtime.tasks.push_notifications not queued" in caplog.text
    assert "broker down" in caplog.text
    assert Notification.objects.filter(pk=notification.pk).exists()


def test_purchases_tell_the_buyers_pages_directly_and_queue_no_task(
    queued, db, django_capture_on_commit_callbacks, monkeypatch
):
    told = []
    monkeypatch.setattr("apps.realtime.receivers.tell_state_stale", lambda user_ids: told.append(sorted(set(user_ids))))
    with django_capture_on_commit_callbacks(execute=True):
        send_after_commit(contracts_bought, sender=Contract, contract_ids=[7, 8], user_ids=[5, 3, 5], wait=False)
        assert told == []
    assert told == [[3, 5]]
    assert queued == []
