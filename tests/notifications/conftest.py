import pytest


@pytest.fixture
def paid(user):
    """`user` on a plan that includes email alerts (Basic, granted)."""
    from apps.billing.models import Plan, Source, Status, Subscription

    Subscription.objects.create(
        user=user, plan=Plan.objects.get(code="basic"), source=Source.GRANT, status=Status.ACTIVE
    )
    return user


@pytest.fixture
def send_outbox():
    """Send what the outbox holds now, as the worker would (the tests call no broker)."""
    from apps.notifications.email import outbox_sweep

    return outbox_sweep
