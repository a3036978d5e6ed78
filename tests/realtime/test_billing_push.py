"""The billing page's plan block follows `subscription_changed`, and only sockets of pages that show it get it."""

import importlib

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from apps.billing.models import Plan, Source, Status, Subscription
from apps.billing.signals import subscription_changed
from apps.realtime.push import push_user_state
from tests.realtime.test_consumer import communicator, receive_all, run
from tests.realtime.test_parts import ids

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer(settings):
    settings.BILLING = {**settings.BILLING, "DEFAULT_PLAN": "free"}
    # A transactional test starts from an empty database: the seeded plans are put back.
    for fields in importlib.import_module("apps.billing.migrations.0002_plans").PLANS:
        Plan.objects.get_or_create(code=fields["code"], defaults=fields)
    async_to_sync(get_channel_layer().flush)()


def test_a_plan_change_pushes_the_plan_block_and_ends_activating(user):
    async def scenario():
        billing = communicator(user, "/ws/live/?parts=bell,billing")
        other = communicator(user, "/ws/live/?parts=bell")
        await billing.connect()
        await other.connect()
        resync = await receive_all(billing)
        assert 'id="billing-plan"' in resync and 'data-plan="free"' in resync
        assert 'id="billing-activating"' not in resync  # a reconnect never ends "Activating…" by itself
        await receive_all(other)

        def upgrade():
            Subscription.objects.create(
                user=user, plan=Plan.objects.get(code="basic"), status=Status.ACTIVE, source=Source.STRIPE
            )
            subscription_changed.send(sender=Subscription, user_id=user.pk, old_plan="free", new_plan="basic")

        await database_sync_to_async(upgrade)()
        pushed = await receive_all(billing)
        assert ids(pushed) == {"billing-plan"} and 'data-plan="basic"' in pushed
        assert 'id="billing-activating"' in pushed and "Your plan is now Basic." in pushed
        assert "billing-plan" not in await receive_all(other)
        await billing.disconnect()
        await other.disconnect()

    run(scenario)


def test_a_state_push_leaves_the_plan_block_alone(user):
    async def scenario():
        comm = communicator(user, "/ws/live/?parts=bell,billing")
        await comm.connect()
        await receive_all(comm)
        await database_sync_to_async(push_user_state)([user.pk])
        assert "billing-plan" not in await receive_all(comm)
        await comm.disconnect()

    run(scenario)
