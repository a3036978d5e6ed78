from decimal import Decimal

import pytest
from django.urls import reverse

from apps.notifications.models import Kind, Notification
from apps.notifications.services import notification_create
from apps.trading.services import contract_buy


def _buy(account, feed, key, direction="RISE"):
    return contract_buy(
        user=account.user,
        account=account,
        market=feed.markets_by_symbol["OTC_EUR_USD"],
        direction=direction,
        stake=Decimal("10.00"),
        duration=1,
        duration_unit="t",
        idempotency_key=key,
    )


def test_each_settled_contract_notifies_its_trader_with_the_result(demo_account, feed):
    contract = _buy(demo_account, feed, "n1")
    feed.tick(3)
    contract.refresh_from_db()
    notification = Notification.objects.get(user=demo_account.user)
    kinds = {"WON": Kind.CONTRACT_WON, "LOST": Kind.CONTRACT_LOST, "TIE": Kind.CONTRACT_REFUNDED}
    assert notification.kind == kinds[contract.status]
    assert "Rise on EUR/USD OTC" in notification.title
    assert f"paid {contract.amount_paid}" in notification.body
    assert notification.link == reverse("trading:contract", args=[contract.pk])


def test_a_demo_reset_notifies(demo_account):
    from apps.accounts.services import account_reset_demo

    account_reset_demo(user=demo_account.user, account=demo_account)
    assert Notification.objects.get().kind == Kind.DEMO_RESET


def test_the_list_shows_only_my_notifications_and_marks_all_read(client, user, other_user):
    notification_create(user=user, kind=Kind.CONTRACT_WON, title="Mine")
    notification_create(user=other_user, kind=Kind.CONTRACT_WON, title="Theirs")
    client.force_login(user)
    page = client.get(reverse("notifications:list")).content.decode()
    assert "Mine" in page and "Theirs" not in page
    assert 'data-testid="unread">1<' in page
    response = client.post(reverse("notifications:mark_all_read"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=other_user, read_at__isnull=True).exists()


@pytest.mark.parametrize("name", ["notifications:mark_all_read"])
def test_get_on_mark_all_read_is_405(client, user, name):
    client.force_login(user)
    assert client.get(reverse(name)).status_code == 405


def test_the_bell_lists_my_five_latest_with_the_unread_count(client, demo_account, feed):
    user = demo_account.user
    for i in range(7):
        notification_create(user=user, kind=Kind.CONTRACT_WON, title=f"Note {i}")
    client.force_login(user)
    page = client.get(reverse("trading:trade")).content.decode()
    bell = page[page.index('id="bell"') : page.index("All notifications")]
    assert 'data-testid="unread">7<' in bell
    assert [f"Note {i}" in bell for i in range(7)] == [False, False, True, True, True, True, True]
    assert bell.index("Note 6") < bell.index("Note 2")


def test_new_and_read_notifications_are_told_once_they_commit(user, django_capture_on_commit_callbacks):
    from apps.notifications.services import notifications_mark_all_read
    from apps.notifications.signals import notifications_created, notifications_read

    heard = []

    def created(sender, notification_ids, **kwargs):
        heard.append(("created", notification_ids))

    def read(sender, user_ids, **kwargs):
        heard.append(("read", user_ids))

    notifications_created.connect(created, dispatch_uid="test.created")
    notifications_read.connect(read, dispatch_uid="test.read")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notification = notification_create(user=user, kind=Kind.CONTRACT_WON, title="Won")
            assert heard == []
        with django_capture_on_commit_callbacks(execute=True):
            notifications_mark_all_read(user=user)
            notifications_mark_all_read(user=user)  # nothing left unread: nothing to tell
    finally:
        notifications_created.disconnect(dispatch_uid="test.created")
        notifications_read.disconnect(dispatch_uid="test.read")
    assert heard == [("created", [notification.pk]), ("read", [user.pk])]
