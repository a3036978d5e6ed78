"""Buying and settling under concurrency: no overdraft, no double payment, no lock errors.

Real threads, real transactions (transactional_db); the test command also
runs these on PostgreSQL.
"""

from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import TradingAccount
from apps.accounts.services import account_open_demo
from apps.ledger.checks import ledger_breaches
from apps.ledger.models import AccountKind, Realm, Transfer, TransferKind
from apps.ledger.services import system_account, transfer
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle
from apps.users.models import User
from tests.support.threads import run_threads

from .support import balance, buy, make_market, write_ticks

pytestmark = pytest.mark.dbsensitive


@pytest.fixture
def patient_prices(settings):
    """Threads may queue for the write lock for a while: keep the test market's price fresh meanwhile."""
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 600.0}


def test_twenty_concurrent_stakes_of_100_from_1000_buy_exactly_ten(transactional_db, demo_account, patient_prices):
    market = make_market()
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    transfer(
        debit=demo_account.ledger_account,
        credit=world,
        amount=Decimal("9000.00"),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="down-to-1000",
    )
    assert balance(demo_account) == Decimal("1000.00")

    def stake(i):
        account = TradingAccount.objects.select_related("ledger_account", "user").get(pk=demo_account.pk)
        try:
            return buy(account, market, stake="100.00", duration=5, key=f"race-{i}").pk
        except ValidationError as exc:
            return exc

    results, exceptions = run_threads(20, stake)

    assert exceptions == []
    bought = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert (len(bought), len(refused)) == (10, 10)
    for error in refused:
        assert "does not cover this stake" in " ".join(error.message_dict["stake"])
    assert Contract.objects.count() == 10
    assert Transfer.objects.filter(kind=TransferKind.STAKE).count() == 10
    assert balance(demo_account) == Decimal("0.00")
    assert ledger_breaches() == []


def test_ten_concurrent_submits_with_one_key_buy_once(transactional_db, demo_account, patient_prices):
    market = make_market()

    def submit(i):
        account = TradingAccount.objects.select_related("ledger_account", "user").get(pk=demo_account.pk)
        return buy(account, market, stake="50.00", duration=5, key="the-same-form").pk

    results, exceptions = run_threads(10, submit)

    assert exceptions == []
    assert len(set(results)) == 1
    assert Contract.objects.count() == 1
    assert Transfer.objects.filter(kind=TransferKind.STAKE).count() == 1
    assert balance(demo_account) == Decimal("9950.00")


def test_two_concurrent_settlement_runs_pay_each_of_200_contracts_exactly_once(transactional_db, patient_prices):
    market = make_market()
    traders = [account_open_demo(user=User.objects.create_user(f"trader{i}@example.com", "pw")) for i in range(10)]
    with transaction.atomic():  # one commit for the setup, not 200
        contracts = [
            buy(account, market, direction="RISE" if i % 2 else "FALL", stake="10.00", duration=1).pk
            for account in traders
            for i in range(20)
        ]
    write_ticks(market, "100.00", "101.00")

    results, exceptions = run_threads(2, lambda i: contracts_settle())

    assert exceptions == []
    first, second = results
    assert not set(first) & set(second)
    assert sorted(first + second) == contracts
    assert not Contract.objects.filter(status=Status.OPEN).exists()
    assert Counter(Contract.objects.values_list("status", flat=True)) == {Status.WON: 100, Status.LOST: 100}
    settlements = Counter(
        Transfer.objects.exclude(kind=TransferKind.STAKE)
        .filter(reference__startswith="contract:")
        .values_list("reference", flat=True)
    )
    for contract in Contract.objects.all():
        expected = 2 if contract.status == Status.WON else 1
        assert settlements[f"contract:{contract.pk}"] == expected
    for account in traders:
        assert balance(account) == Decimal("10000.00") - 200 + 10 * 18
    assert ledger_breaches() == []
