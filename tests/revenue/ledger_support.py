"""A hand-built ledger for revenue reports: transfers of each kind the reports read, on chosen days."""

import contextlib
import datetime
import itertools
from decimal import Decimal

from django.utils import timezone

from apps.ledger.models import AccountKind, Realm, TransferKind
from apps.ledger.services import ledger_account_open, system_account, transfer
from apps.revenue.services import partner_earnings_accounts

_keys = itertools.count()


@contextlib.contextmanager
def on_day(monkeypatch, day: datetime.date, hour: int = 12):
    """Rows written inside are stamped at `hour` UTC on `day`."""
    moment = datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: moment)
        yield


class Books:
    """One trader's account and the system accounts of a realm, in USD."""

    def __init__(self, trader, realm=Realm.DEMO, currency="USD"):
        self.realm, self.currency = realm, currency
        self.user = ledger_account_open(
            owner=trader, code=f"user:test:{trader.pk}:{realm}", name="trader", realm=realm, currency=currency
        )
        self.world = system_account(kind=AccountKind.WORLD, realm=realm, currency=currency)
        self.house = system_account(kind=AccountKind.HOUSE, realm=realm, currency=currency)
        self.revenue = system_account(kind=AccountKind.REVENUE, realm=realm, currency=currency)
        self.move(self.world, self.user, "1000.00", TransferKind.ISSUE)

    def move(self, debit, credit, amount, kind):
        return transfer(
            debit=debit,
            credit=credit,
            amount=Decimal(amount),
            kind=kind,
            idempotency_key=f"test:{next(_keys)}",
            reference="test",
        )

    def commission(self, amount):
        return self.move(self.user, self.revenue, amount, TransferKind.COMMISSION)

    def markup(self, partner, amount):
        accounts = partner_earnings_accounts([(partner.pk, self.realm, self.currency)])
        from apps.ledger.models import LedgerAccount

        account = LedgerAccount.objects.get(pk=accounts[(partner.pk, self.realm, self.currency)])
        return self.move(self.user, account, amount, TransferKind.MARKUP)

    def lost(self, amount):
        return self.move(self.user, self.house, amount, TransferKind.LOSS)

    def won(self, amount):
        return self.move(self.house, self.user, amount, TransferKind.PAYOUT)
