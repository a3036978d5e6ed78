"""`contracts_buy_many`: each order stands or falls alone, even when a balance drops while the batch is checked."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.services import account_open_demo
from apps.ledger.models import AccountKind, Realm, TransferKind
from apps.ledger.services import system_account, transfer
from apps.trading.models import Contract
from apps.trading.services import Buyer, Order, contracts_buy_many
from apps.trading.signals import account_refusals_requested

from .support import balance, make_market


def test_an_account_that_cannot_pay_when_the_stakes_are_taken_is_refused_alone(demo_account, other_user):
    market = make_market()
    poor = account_open_demo(user=other_user)
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")

    def spend_elsewhere(sender, account_ids, **kwargs):
        # Another purchase takes the money after the batch started (asked while it validates).
        transfer(
            debit=poor.ledger_account,
            credit=world,
            amount=Decimal("9999.00"),
            kind=TransferKind.ADJUSTMENT,
            idempotency_key="spent-elsewhere",
        )
        return {}

    orders = [
        Order(Buyer.of(account), "RISE", Decimal("5.00"), 1, "t", f"bulk-{account.pk}")
        for account in (demo_account, poor)
    ]
    account_refusals_requested.connect(spend_elsewhere, dispatch_uid="tests.spend_elsewhere")
    try:
        with transaction.atomic():
            bought, refused = contracts_buy_many(market=market, orders=orders)
    finally:
        account_refusals_requested.disconnect(dispatch_uid="tests.spend_elsewhere")

    assert isinstance(bought, int)
    assert isinstance(refused, ValidationError)
    assert "Your balance (1.00 USD) does not cover this stake." in refused.message_dict["stake"]
    assert list(Contract.objects.values_list("pk", "account_id")) == [(bought, demo_account.pk)]
    assert balance(demo_account) == Decimal("9995.00")
    assert balance(poor) == Decimal("1.00")
