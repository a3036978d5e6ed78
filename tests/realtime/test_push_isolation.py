"""One render that fails never stops a push to everyone else, and a broker out of reach never fails a commit."""

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.notifications.models import Kind
from apps.notifications.services import notification_create
from apps.realtime import push
from apps.realtime.push import push_notifications, push_user_state, user_group
from apps.trading.models import Contract
from apps.trading.signals import contracts_settled
from apps.users.models import User
from tests.support.redis import redis_unreachable


@pytest.fixture
def traders(db):
    from apps.accounts.services import account_open_demo

    users = [User.objects.create_user(f"t{i}@example.com", "correct horse battery staple") for i in range(3)]
    for user in users:
        account_open_demo(user=user)
    return users


@pytest.fixture
def listening(traders):
    """One channel in each trader's group: what each would receive."""
    layer = get_channel_layer()
    async_to_sync(layer.flush)()
    channels = {}
    for user in traders:
        channels[user.pk] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(user_group(user.pk), channels[user.pk])

    async def drain(channel: str) -> list[str]:
        messages = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.1)
            except TimeoutError:
                return messages
            messages.append("".join(message["parts"].values()))

    def received(user) -> list[str]:
        return async_to_sync(drain)(channels[user.pk])

    return received


@pytest.fixture
def broken_for(monkeypatch):
    """Make rendering the positions of one trader raise, as a query the database refuses would."""

    def broken(victim):
        real = push.positions_fragment

        def positions_fragment(user):
            if user.pk == victim.pk:
                raise RuntimeError("the database refused the query")
            return real(user)

        monkeypatch.setattr(push, "positions_fragment", positions_fragment)

    return broken


def test_a_render_that_raises_for_one_user_still_pushes_the_others(traders, listening, broken_for, caplog):
    first, victim, last = traders
    broken_for(victim)

    with caplog.at_level(logging.ERROR, logger="apps.realtime.push"):
        push_user_state([u.pk for u in traders])

    assert listening(victim) == []
    for user in (first, last):
        (html,) = listening(user)
        assert 'id="positions"' in html
    assert f"render for user.{victim.pk} failed" in caplog.text


def test_notifications_reach_the_others_when_one_render_raises(traders, listening, broken_for):
    first, victim, last = traders
    ids = [notification_create(user=u, kind=Kind.CONTRACT_WON, title=f"Won {u.pk}").pk for u in traders]
    for user in traders:
        listening(user)  # What creating the notifications pushed.
    broken_for(victim)

    push_notifications(ids)

    assert listening(victim) == []
    for user in (first, last):
        (html,) = listening(user)
        assert f"Won {user.pk}" in html


def test_a_settlement_commits_although_its_push_cannot_be_queued(
    db, settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    # Users an earlier test's rolled-back transaction left waiting on this
    # connection go with the next flush (see user_state_push): let that be
    # this one, before Redis goes away, so the count below is this test's own.
    with django_capture_on_commit_callbacks(execute=True):
        contracts_settled.send(sender=Contract, results=[], user_ids=[])
    with (
        redis_unreachable(settings, monkeypatch),
        caplog.at_level(logging.WARNING),
        django_capture_on_commit_callbacks(execute=True),
    ):
        contracts_settled.send(sender=Contract, results=[], user_ids=[4, 2])
    assert "apps.realtime.tasks.push_user_state not queued for 2 ids" in caplog.text
