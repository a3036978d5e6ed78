"""Orders `contract_buy` refuses: each refusal leaves no contract, no stake moved, a clean ledger."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.accounts.models import AccountType, TradingAccount
from apps.accounts.services import account_open_demo
from apps.audit.models import AuditEvent
from apps.ledger.checks import ledger_breaches
from apps.ledger.models import Entry, Realm, Transfer
from apps.ledger.services import ledger_account_open
from apps.markets.models import Market, Source
from apps.trading.models import Contract

from .support import balance, buy, make_market


@pytest.fixture
def market(db):
    return make_market(min_stake=Decimal("1.00"), max_stake=Decimal("500.00"))


@pytest.fixture
def unchanged(demo_account):
    """Asserts, after the test body, that the refused order changed nothing."""
    before = (Transfer.objects.count(), Entry.objects.count(), AuditEvent.objects.count())
    yield
    assert not Contract.objects.exists()
    assert balance(demo_account) == Decimal("10000.00")
    assert (Transfer.objects.count(), Entry.objects.count(), AuditEvent.objects.count()) == before
    assert ledger_breaches() == []


def refused(field, **order):
    """The ValidationError's message for `field`."""
    with pytest.raises(ValidationError) as caught:
        buy(**order)
    assert field in caught.value.message_dict, caught.value.message_dict
    return " ".join(caught.value.message_dict[field])


def test_a_stake_below_the_minimum_is_refused(demo_account, market, unchanged):
    message = refused("stake", account=demo_account, market=market, stake="0.99")

    assert "minimum stake" in message and "1.00" in message


def test_a_stake_above_the_maximum_is_refused(demo_account, market, unchanged):
    message = refused("stake", account=demo_account, market=market, stake="500.01")

    assert "maximum stake" in message and "500.00" in message


def test_a_stake_above_the_balance_is_refused(demo_account, unchanged):
    big = make_market("BIG_MKT", max_stake=Decimal("50000.00"))

    message = refused("stake", account=demo_account, market=big, stake="10000.01")

    assert "does not cover" in message and "10,000.00" in message


def test_a_stake_with_more_than_two_decimals_is_refused(demo_account, market, unchanged):
    message = refused("stake", account=demo_account, market=market, stake="10.001")

    assert "two decimal places" in message


@pytest.mark.parametrize("stake", ["-10.00", "0.00", "-0.01"])
def test_a_negative_or_zero_stake_is_refused(demo_account, market, unchanged, stake):
    refused("stake", account=demo_account, market=market, stake=stake)


def test_an_inactive_market_is_refused(demo_account, market, unchanged):
    Market.objects.filter(pk=market.pk).update(is_active=False)

    message = refused("market", account=demo_account, market=market)

    assert "closed for trading" in message


def test_the_market_is_read_afresh_so_a_just_closed_market_is_refused(demo_account, market, unchanged):
    stale_copy = Market.objects.get(pk=market.pk)
    Market.objects.filter(pk=market.pk).update(is_active=False)

    refused("market", account=demo_account, market=stale_copy)


@pytest.mark.parametrize("duration", [0, 11, -1, 100])
def test_a_tick_duration_out_of_range_is_refused(demo_account, market, unchanged, duration):
    message = refused("duration", account=demo_account, market=market, duration=duration, unit="t")

    assert "1 to 10 ticks" in message


@pytest.mark.parametrize("duration", [0, 2, 10, 59, 61, 120])
def test_a_minute_duration_out_of_range_is_refused(demo_account, market, unchanged, duration):
    message = refused("duration", account=demo_account, market=market, duration=duration, unit="m")

    assert "1, 5, 15, 30 or 60 minutes" in message


def test_an_unknown_duration_unit_is_refused(demo_account, market, unchanged):
    message = refused("duration", account=demo_account, market=market, duration=1, unit="h")

    assert "ticks or minutes" in message


def test_an_unknown_direction_is_refused(demo_account, market, unchanged):
    message = refused("direction", account=demo_account, market=market, direction="SIDEWAYS")

    assert "Rise or Fall" in message


def test_a_stale_price_pauses_trading(demo_account, market, unchanged):
    Market.objects.filter(pk=market.pk).update(last_tick_at=timezone.now() - datetime.timedelta(minutes=1))

    message = refused("market", account=demo_account, market=market)

    assert "paused" in message and "Trading resumes when prices do" in message


def test_a_market_that_never_ticked_is_paused(demo_account, unchanged):
    silent = Market.objects.create(symbol="SILENT", name="Silent", base_price=Decimal("1.00"))

    assert "paused" in refused("market", account=demo_account, market=silent)


def test_a_deriv_market_cannot_be_traded_from_a_nexus_demo_account(demo_account, unchanged):
    deriv = make_market("R_100", source=Source.DERIV)

    assert "cannot be traded from" in refused("market", account=demo_account, market=deriv)


def test_a_deriv_account_cannot_trade_an_otc_market(user, demo_account, market, unchanged):
    ledger_account = ledger_account_open(owner=user, code="user:deriv", name="Deriv", realm=Realm.REAL, currency="USD")
    deriv = TradingAccount.objects.create(
        user=user, type=AccountType.DERIV_REAL, label="Deriv real", ledger_account=ledger_account
    )

    assert "cannot be traded from" in refused("market", account=deriv, market=market)


def test_several_problems_are_reported_together(demo_account, market, unchanged):
    with pytest.raises(ValidationError) as caught:
        buy(demo_account, market, stake="0.001", duration=42, unit="t")

    assert set(caught.value.message_dict) == {"stake", "duration"}


def test_another_users_account_raises_permission_denied(demo_account, other_user, market, unchanged):
    with pytest.raises(PermissionDenied):
        buy(demo_account, market, user=other_user)


def test_another_users_account_is_refused_even_with_its_owners_key(demo_account, other_user, market):
    theirs = account_open_demo(user=other_user)
    buy(theirs, market, key="shared-key")

    with pytest.raises(PermissionDenied):
        buy(theirs, market, key="shared-key", user=demo_account.user)

    assert Contract.objects.count() == 1
    assert balance(demo_account) == Decimal("10000.00")
