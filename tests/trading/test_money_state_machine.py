"""A stateful property test of the ledger and trading together.

Hypothesis drives random sequences of: opening demo accounts, buying contracts
(stakes anywhere from below the minimum to above the balance, both
directions, tick and minute durations, double submits), feed ticks with
settlement, stalls of the feed, settlement sweeps and demo resets. After
every step the ledger's invariants hold, and each account's balance equals
10,000 + the profit of its settled contracts - the stakes of its open ones +
what its resets added or took.
"""

import datetime
import itertools
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.accounts.services import MAX_DEMO_ACCOUNTS, account_open_demo, account_reset_demo
from apps.ledger.checks import ledger_breaches
from apps.ledger.models import LedgerAccount, Transfer
from apps.markets.feed import OtcFeed
from apps.markets.models import Market, Tick, TieRule, VolatilityMode
from apps.trading.models import MINUTE_DURATIONS, Contract, Status
from apps.trading.services import contract_buy, contracts_settle, outcome, payout_for
from apps.users.models import User

DEMO = Decimal("10000.00")
MIN_STAKE, MAX_STAKE = Decimal("0.35"), Decimal("20000.00")

stakes = st.one_of(
    st.decimals(min_value=MIN_STAKE, max_value=Decimal("200.00"), places=2),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("25000.00"), places=2),
    st.sampled_from(["all-in", "over"]),
)
durations = st.sampled_from(
    [(n, "t") for n in range(1, 11)]
    + [(1, "m"), (1, "m"), (5, "m")]
    # Out of range: always refused.
    + [(0, "t"), (11, "t"), (2, "m")]
)


def money(account) -> Decimal:
    return LedgerAccount.objects.values_list("balance", flat=True).get(pk=account.ledger_account_id)


def test_money_is_conserved_through_any_sequence_of_trading(db, django_capture_on_commit_callbacks):
    class TradingMachine(RuleBasedStateMachine):
        accounts = Bundle("accounts")

        def __init__(self):
            super().__init__()
            # Each example runs in its own savepoint, rolled back in teardown.
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
            # One clock for everything (feed, purchases, freshness), driven by the rules.
            self.now = timezone.now()
            self._clock = mock.patch("django.utils.timezone.now", lambda: self.now)
            self._clock.start()
            self.users = [User.objects.create_user(f"trader{i}@example.com", "pw") for i in range(2)]
            self.markets = [
                Market.objects.create(
                    symbol=f"SM_{tie_rule.value}",
                    name=f"State machine {tie_rule.label}",
                    base_price=Decimal("100.00"),
                    decimals=2,  # coarse prices, so equal exits (ties) happen often
                    volatility_mode=VolatilityMode.LOW,
                    tie_rule=tie_rule,
                    min_stake=MIN_STAKE,
                    max_stake=MAX_STAKE,
                    seed=i,
                )
                for i, tie_rule in enumerate([TieRule.REFUND, TieRule.LOSE])
            ]
            self.feed = OtcFeed(clock=lambda: self.now, seeded=True)
            self.keys = itertools.count()
            self.last_buy = None  # (account, key, contract pk, stake) of the last accepted buy
            self.accepted = 0
            self.adjustments: dict[int, Decimal] = {}
            self._tick(1, 1.0)

        def teardown(self):
            self._clock.stop()
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

        def _tick(self, n, seconds):
            for _ in range(n):
                self.now += datetime.timedelta(seconds=seconds)
                with django_capture_on_commit_callbacks(execute=True):
                    self.feed.step(self.now)

        # --- rules -------------------------------------------------------------

        @initialize(target=accounts)
        def first_account(self):
            return self._open(0)

        @rule(target=accounts, user=st.integers(min_value=0, max_value=1))
        def open_account(self, user):
            if self.users[user].trading_accounts.count() >= MAX_DEMO_ACCOUNTS:
                # One more is refused, and moves no money.
                with pytest.raises(ValidationError):
                    account_open_demo(user=self.users[user])
                return multiple()
            return self._open(user)

        def _open(self, user):
            account = account_open_demo(user=self.users[user], label=f"Demo {next(self.keys)}")
            assert money(account) == DEMO
            self.adjustments[account.pk] = Decimal("0.00")
            return account

        @rule(
            account=accounts,
            market=st.integers(min_value=0, max_value=1),
            direction=st.sampled_from(["RISE", "FALL"]),
            stake=stakes,
            extra=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2),
            duration=durations,
        )
        def buy(self, account, market, direction, stake, extra, duration):
            before = money(account)
            if stake == "all-in":
                stake = before
            elif stake == "over":
                stake = before + extra
            self._buy(account, market, direction, stake, duration)

        @rule(
            account=accounts,
            market=st.integers(min_value=0, max_value=1),
            direction=st.sampled_from(["RISE", "FALL"]),
            stake=st.decimals(min_value=MIN_STAKE, max_value=Decimal("50.00"), places=2),
            duration=st.sampled_from([(n, "t") for n in range(1, 11)] + [(1, "m"), (5, "m")]),
        )
        def buy_a_small_stake(self, account, market, direction, stake, duration):
            self._buy(account, market, direction, stake, duration)

        def _buy(self, account, market, direction, stake, duration):
            market = Market.objects.get(pk=self.markets[market].pk)
            before = money(account)
            length, unit = duration
            valid_duration = length in (range(1, 11) if unit == "t" else MINUTE_DURATIONS)
            expect_ok = market.is_fresh and MIN_STAKE <= stake <= MAX_STAKE and valid_duration and stake <= before
            transfers = Transfer.objects.count()
            key = f"k{next(self.keys)}"
            try:
                contract = contract_buy(
                    user=account.user,
                    account=account,
                    market=market,
                    direction=direction,
                    stake=stake,
                    duration=length,
                    duration_unit=unit,
                    idempotency_key=key,
                )
            except ValidationError as exc:
                assert not expect_ok, f"refused a valid order: {exc.message_dict}"
                if market.is_fresh and MIN_STAKE <= stake <= MAX_STAKE and valid_duration:
                    assert "does not cover" in " ".join(exc.message_dict["stake"])
                assert money(account) == before
                assert Transfer.objects.count() == transfers
                assert not Contract.objects.filter(user=account.user, idempotency_key=key).exists()
                return
            assert expect_ok, f"accepted an order that should be refused: stake {stake}, balance {before}"
            self.accepted += 1
            self.last_buy = (account, key, contract.pk, stake)
            assert money(account) == before - stake
            assert contract.purchase_seq == market.last_seq
            assert contract.payout == payout_for(stake=stake, payout_percent=market.payout_percent)

        @precondition(lambda self: self.last_buy is not None)
        @rule()
        def double_submit(self):
            account, key, pk, stake = self.last_buy
            before, transfers = money(account), Transfer.objects.count()
            market = Contract.objects.get(pk=pk).market
            again = contract_buy(
                user=account.user,
                account=account,
                market=market,
                direction="RISE",
                stake=stake,
                duration=1,
                duration_unit="t",
                idempotency_key=key,
            )
            assert again.pk == pk
            assert (money(account), Transfer.objects.count()) == (before, transfers)

        @rule(n=st.integers(min_value=1, max_value=6), seconds=st.sampled_from([1.0, 5.0, 20.0, 61.0]))
        def tick(self, n, seconds):
            self._tick(n, seconds)

        @rule()
        def tick_once(self):
            self._tick(1, 1.0)

        @rule()
        def run_until_everything_settles(self):
            # Eleven ticks a minute apart settle 10-tick and 5-minute contracts alike.
            for _ in range(11):
                if not Contract.objects.filter(status=Status.OPEN).exists():
                    break
                self._tick(1, 61.0)
            assert not Contract.objects.filter(status=Status.OPEN).exists()

        @rule(seconds=st.integers(min_value=6, max_value=90))
        def feed_stalls(self, seconds):
            self.now += datetime.timedelta(seconds=seconds)

        @rule()
        def settle(self):
            settled = contracts_settle()
            assert len(settled) == len(set(settled))
            assert not Contract.objects.filter(pk__in=settled, status=Status.OPEN).exists()

        @rule(account=accounts)
        def reset(self, account):
            before = money(account)
            account_reset_demo(user=account.user, account=account)
            assert money(account) == DEMO
            self.adjustments[account.pk] += DEMO - before

        # --- invariants ----------------------------------------------------------

        @invariant()
        def ledger_is_clean(self):
            assert ledger_breaches() == []

        @invariant()
        def every_balance_is_explained_by_contracts_and_resets(self):
            expected = {pk: DEMO + adjustment for pk, adjustment in self.adjustments.items()}
            for pk, status, stake, paid in Contract.objects.values_list("account_id", "status", "stake", "amount_paid"):
                expected[pk] += -stake if status == Status.OPEN else paid - stake
            balances = dict(
                LedgerAccount.objects.filter(trading_account__pk__in=expected).values_list(
                    "trading_account__pk", "balance"
                )
            )
            assert balances == expected
            assert all(balance >= 0 for balance in balances.values())

        @invariant()
        def every_accepted_order_is_one_contract(self):
            assert Contract.objects.count() == self.accepted

        @invariant()
        def settled_contracts_follow_the_rules(self):
            settled = list(Contract.objects.exclude(status=Status.OPEN))
            ticks = {
                (t.market_id, t.seq): t
                for t in Tick.objects.filter(market__in=self.markets, seq__in={c.purchase_seq + 1 for c in settled})
                | Tick.objects.filter(market__in=self.markets, seq__in={c.exit_seq for c in settled if c.exit_seq})
            }
            for c in settled:
                assert c.status == outcome(
                    direction=c.direction, entry=c.entry_spot, exit=c.exit_spot, tie_rule=c.tie_rule
                )
                paid = {Status.WON: c.payout, Status.LOST: Decimal("0.00")}.get(c.status, c.stake)
                assert c.amount_paid == paid
                if c.entry_spot is not None:
                    entry = ticks[(c.market_id, c.purchase_seq + 1)]
                    assert (c.entry_spot, c.entry_time) == (entry.price, entry.time)
                if c.status == Status.VOID:
                    # Its exit tick never came in time (the feed stalled): refunded, no exit spot.
                    assert c.exit_spot is None
                elif c.duration_unit == "t":
                    assert c.exit_spot == ticks[(c.market_id, c.exit_seq)].price
                else:
                    assert c.exit_time is None or c.exit_time <= c.expires_at

    run_state_machine_as_test(
        TradingMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
