from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.markets.models import Market
from apps.notifications.models import Kind, Notification
from apps.trading.services import contract_buy, paused_markets_notify


def test_traders_with_open_contracts_hear_once_that_prices_paused(demo_account, feed):
    market = feed.markets_by_symbol["OTC_GOLD"]
    contract_buy(
        user=demo_account.user,
        account=demo_account,
        market=market,
        direction="RISE",
        stake=Decimal("5.00"),
        duration=5,
        duration_unit="m",
        idempotency_key="p1",
    )
    assert paused_markets_notify() == 0  # prices are live

    Market.objects.filter(pk=market.pk).update(last_tick_at=timezone.now() - timedelta(minutes=2))
    assert paused_markets_notify() == 1
    assert paused_markets_notify() == 0  # same pause, no repeat
    notice = Notification.objects.get(kind=Kind.MARKET_PAUSED)
    assert notice.user == demo_account.user
    assert "Gold OTC" in notice.title

    # Prices came back after that notice, then stopped again: a new pause, a new notice.
    now = timezone.now()
    Market.objects.filter(pk=market.pk).update(
        paused_notice_at=now - timedelta(minutes=5), last_tick_at=now - timedelta(minutes=1)
    )
    assert paused_markets_notify() == 1
