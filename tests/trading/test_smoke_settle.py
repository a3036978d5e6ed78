from decimal import Decimal

from apps.trading.models import Status
from apps.trading.services import contract_buy


def test_a_rise_contract_settles_after_its_ticks(demo_account, feed, markets):
    market = markets["OTC_EUR_USD"]
    contract = contract_buy(
        user=demo_account.user,
        account=demo_account,
        market=market,
        direction="RISE",
        stake=Decimal("10.00"),
        duration=3,
        duration_unit="t",
        idempotency_key="one",
    )
    feed.tick(4)
    contract.refresh_from_db()
    assert contract.status != Status.OPEN
