"""Settlement run twice at once charges each win's commission and markup once (SQLite and PostgreSQL)."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db import transaction

from apps.accounts.services import account_open_demo
from apps.ledger.checks import ledger_breaches
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import system_account
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle
from apps.users.models import User
from tests.support.threads import run_threads
from tests.trading.support import balance, buy, make_market, write_ticks

from .support import commission_rule, partner, refer

pytestmark = pytest.mark.dbsensitive


@pytest.fixture
def patient_prices(settings):
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 600.0}


def test_two_settlement_runs_at_once_charge_each_win_once(transactional_db, patient_prices):
    commission_rule("20.00")
    brought_by = partner(markup="10.00")
    market = make_market()
    traders = []
    for i in range(6):
        account = account_open_demo(user=User.objects.create_user(f"trader{i}@example.com", "pw"))
        if i % 2:
            refer(account.user, brought_by)
        traders.append(account)
    with transaction.atomic():
        for account in traders:
            for i in range(10):
                buy(account, market, direction="RISE" if i % 2 else "FALL", stake="10.00", duration=1)
    write_ticks(market, "100.00", "101.00")

    results, exceptions = run_threads(2, lambda i: contracts_settle())

    assert exceptions == []
    assert not set(results[0]) & set(results[1])
    assert Counter(Contract.objects.values_list("status", flat=True)) == {Status.WON: 30, Status.LOST: 30}
    fees = Counter(
        Transfer.objects.filter(kind__in=[TransferKind.COMMISSION, TransferKind.MARKUP]).values_list(
            "idempotency_key", flat=True
        )
    )
    assert set(fees.values()) == {1}
    assert len(fees) == 30 + 15  # a commission on every win, a markup on the referred traders' wins
    for i, account in enumerate(traders):
        # Five wins of 10.00 paying 18.00 and five losses: -10.00 gross, less 1.60 (and 0.80) per win.
        assert balance(account) == Decimal("9990.00") - 5 * (Decimal("2.40") if i % 2 else Decimal("1.60"))
    assert system_account(kind=AccountKind.REVENUE, realm=Realm.DEMO, currency="USD").balance == Decimal("48.00")
    assert LedgerAccount.objects.get(kind=AccountKind.PARTNER).balance == Decimal("12.00")
    assert ledger_breaches() == []
