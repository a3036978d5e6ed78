from decimal import Decimal

from django.urls import reverse

from apps.trading.services import contract_buy


def test_markers_show_my_entries_and_exits_only(client, demo_account, other_user, feed):
    from apps.accounts.services import account_open_demo

    market = feed.markets_by_symbol["OTC_EUR_USD"]
    theirs = account_open_demo(user=other_user)
    for account, key in ((demo_account, "mine"), (theirs, "theirs")):
        contract_buy(
            user=account.user,
            account=account,
            market=market,
            direction="FALL",
            stake=Decimal("5.00"),
            duration=1,
            duration_unit="t",
            idempotency_key=key,
        )
    feed.tick(3)
    client.force_login(demo_account.user)
    markers = client.get(reverse("trading:markers"), {"market": "OTC_EUR_USD"}).json()["markers"]
    assert [m["kind"] for m in markers] == ["entry", "exit"]
    assert markers[0]["direction"] == "FALL"
    assert client.get(reverse("trading:markers"), {"market": "NOPE"}).status_code == 404
