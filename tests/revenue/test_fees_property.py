"""A stateful property test of commission and markup.

Hypothesis drives random sequences of purchases by referred and unreferred traders, price moves that
settle them (wins, losses, ties), feed stalls that void them, repeated settlement runs, and changes of
the commission rate and of partners' markups. After every step: the ledger's invariants hold (money
conserved, fees add up per contract), each contract was charged at most once and at the rates in force
when it was bought, and revenue, partner earnings and every trader's balance are what the contracts say.
"""

import datetime
import itertools
from decimal import Decimal
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from apps.accounts.services import account_open_demo
from apps.ledger.checks import ledger_breaches
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import system_account, to_money
from apps.revenue.models import CommissionRule
from apps.revenue.services import partner_markup_set
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle
from apps.users.models import User
from tests.trading.support import balance, buy, make_market, write_tick

from .support import partner, refer

pytestmark = pytest.mark.django_db

DEMO = Decimal("10000.00")
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2)
markups = st.decimals(min_value=Decimal("5"), max_value=Decimal("50"), places=2)


def test_fees_are_charged_once_at_purchase_rates_and_money_is_conserved(db, django_capture_on_commit_callbacks):
    class FeesMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
            self.now = timezone.now()
            self._clock = mock.patch("django.utils.timezone.now", lambda: self.now)
            self._clock.start()
            self.rule = CommissionRule.objects.create(
                realm=Realm.DEMO, rate=Decimal("20.00"), valid_from=timezone.localdate() - datetime.timedelta(days=1)
            )
            self.partners = [partner(f"partner{i}", markup="10.00") for i in range(2)]
            self.accounts = []
            for i in range(3):
                account = account_open_demo(user=User.objects.create_user(f"t{i}@example.com", "pw"))
                if i:  # trader 0 came by nobody; traders 1 and 2 by one partner each
                    refer(account.user, self.partners[i - 1])
                self.accounts.append(account)
            self.market = make_market("FEES_MKT", price="100.00")
            self.price = Decimal("100.00")
            self.keys = itertools.count()
            # The rates in force at each purchase, by contract id: (commission %, markup %, partner id).
            self.expected: dict[int, tuple[Decimal, Decimal, int | None]] = {}

        def teardown(self):
            self._clock.stop()
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

        def _rates_now(self, trader: int) -> tuple[Decimal, Decimal, int | None]:
            commission = CommissionRule.objects.get(pk=self.rule.pk).rate
            if not trader:
                return commission, Decimal("0"), None
            p = self.partners[trader - 1]
            p.refresh_from_db()
            return commission, p.markup_rate, p.pk

        @rule(
            trader=st.integers(0, 2),
            direction=st.sampled_from(["RISE", "FALL"]),
            stake=st.decimals(min_value=Decimal("0.35"), max_value=Decimal("100.00"), places=2),
            duration=st.integers(1, 3),
        )
        def purchase(self, trader, direction, stake, duration):
            if self.now - self.market.last_tick_at > datetime.timedelta(seconds=5):
                self._tick(Decimal("0"))  # prices resume before anyone buys
            contract = buy(
                self.accounts[trader], self.market, direction, stake, duration=duration, key=f"k{next(self.keys)}"
            )
            self.expected[contract.pk] = self._rates_now(trader)

        @rule(move=st.sampled_from([Decimal("-0.50"), Decimal("0"), Decimal("0.25"), Decimal("1.00")]))
        def tick(self, move):
            self._tick(move)
            contracts_settle()

        def _tick(self, move):
            self.now += datetime.timedelta(seconds=1)
            self.price += move
            write_tick(self.market, self.price, at=self.now)
            self.market.refresh_from_db()

        @rule()
        def settle_again(self):
            assert contracts_settle() == []

        @rule()
        def stall(self):
            # No price for eleven minutes: tick contracts still waiting for their exit are void.
            self.now += datetime.timedelta(minutes=11)
            contracts_settle()

        @rule(rate=rates)
        def change_commission(self, rate):
            CommissionRule.objects.filter(pk=self.rule.pk).update(rate=rate)

        @rule(which=st.integers(0, 1), markup=markups)
        def change_markup(self, which, markup):
            partner_markup_set(user=self.partners[which].user, markup=markup)

        @invariant()
        def fees_follow_the_purchase_rates_and_money_is_conserved(self):
            assert ledger_breaches() == []
            charged = Transfer.objects.filter(kind__in=[TransferKind.COMMISSION, TransferKind.MARKUP])
            keys = list(charged.values_list("idempotency_key", flat=True))
            assert len(keys) == len(set(keys))
            commissions = markups_total = Decimal("0.00")
            net = {account.ledger_account_id: DEMO for account in self.accounts}
            for c in Contract.objects.select_related("account"):
                rate, markup, partner_id = self.expected[c.pk]
                assert (c.commission_rate, c.markup_rate, c.partner_id) == (rate, markup, partner_id)
                profit = c.payout - c.stake
                if c.status == Status.WON or c.status == Status.OPEN:
                    assert (c.commission, c.markup) == (to_money(profit * rate / 100), to_money(profit * markup / 100))
                else:
                    assert (c.commission, c.markup) == (0, 0)
                if c.status == Status.OPEN:
                    net[c.account.ledger_account_id] -= c.stake
                else:
                    net[c.account.ledger_account_id] += c.amount_paid - c.stake
                if c.status == Status.WON:
                    assert c.amount_paid + c.commission + c.markup == c.payout
                    commissions += c.commission
                    markups_total += c.markup
            revenue = system_account(kind=AccountKind.REVENUE, realm=Realm.DEMO, currency="USD").balance
            earned = sum(LedgerAccount.objects.filter(kind=AccountKind.PARTNER).values_list("balance", flat=True))
            assert (revenue, earned) == (commissions, markups_total)
            for account in self.accounts:
                assert balance(account) == net[account.ledger_account_id]

    run_state_machine_as_test(
        FeesMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
