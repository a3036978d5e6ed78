"""Commission and partner markup: fixed at purchase, charged once at settlement, only on wins, through the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from apps.ledger.checks import ledger_breaches
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import system_account
from apps.markets.models import TieRule
from apps.revenue.models import CommissionRule
from apps.revenue.services import Rates, partner_markup_set
from apps.trading.models import Contract, Status
from apps.trading.services import Buyer, Order, contracts_buy_many, contracts_settle, win_terms
from tests.trading.support import balance, buy, make_market, write_ticks

from .support import commission_rule, partner, refer


def revenue_balance() -> Decimal:
    return system_account(kind=AccountKind.REVENUE, realm=Realm.DEMO, currency="USD").balance


def earnings(p) -> Decimal:
    return sum(LedgerAccount.objects.filter(kind=AccountKind.PARTNER, owner=p.user).values_list("balance", flat=True))


@pytest.fixture
def fees(demo_account):
    """A 20% commission on demo contracts and a 10% partner who referred the trader."""
    commission_rule("20.00")
    p = partner(markup="10.00")
    refer(demo_account.user, p)
    return p


def test_the_issue_example_stake_10_pays_18_commission_1_60_markup_0_80_net_5_60(demo_account, fees):
    market = make_market(payout_percent="80.00")
    terms = win_terms(account=demo_account, market=market, stake=Decimal("10.00"))
    assert (terms.payout, terms.commission, terms.markup, terms.net_profit) == (
        Decimal("18.00"),
        Decimal("1.60"),
        Decimal("0.80"),
        Decimal("5.60"),
    )
    assert terms.fees == " · commission 1.60 · partner markup 0.80"

    contract = buy(demo_account, market, "RISE", "10.00", duration=1)
    assert (contract.commission_rate, contract.markup_rate, contract.partner_id) == (
        Decimal("20.00"),
        Decimal("10.00"),
        fees.pk,
    )
    assert (contract.commission, contract.markup) == (Decimal("1.60"), Decimal("0.80"))
    write_ticks(market, "100.00", "101.00")
    contracts_settle()

    contract.refresh_from_db()
    assert contract.status == Status.WON
    assert contract.amount_paid == Decimal("15.60")
    assert contract.gross_paid == Decimal("18.00")
    assert contract.profit == Decimal("5.60")
    assert balance(demo_account) == Decimal("10005.60")
    assert revenue_balance() == Decimal("1.60")
    assert earnings(fees) == Decimal("0.80")
    keys = set(Transfer.objects.filter(reference=f"contract:{contract.pk}").values_list("idempotency_key", "kind"))
    assert {(f"contract:{contract.pk}:commission", TransferKind.COMMISSION)} <= keys
    assert {(f"contract:{contract.pk}:markup", TransferKind.MARKUP)} <= keys
    notice = demo_account.user.notifications.get()
    assert notice.body == "Stake 10.00, pays 18.00 · commission 1.60 · partner markup 0.80: net profit +5.60."


@pytest.mark.parametrize(
    ("direction", "prices", "tie_rule", "status"),
    [
        ("FALL", ("100.00", "101.00"), TieRule.REFUND, Status.LOST),
        ("RISE", ("100.00", "100.00"), TieRule.REFUND, Status.TIE),
        ("RISE", ("100.00", "100.00"), TieRule.LOSE, Status.LOST),
    ],
)
def test_a_contract_that_does_not_win_carries_no_fee(demo_account, fees, direction, prices, tie_rule, status):
    market = make_market(tie_rule=tie_rule)
    contract = buy(demo_account, market, direction, "10.00", duration=1)
    write_ticks(market, *prices)
    contracts_settle()
    contract.refresh_from_db()
    assert contract.status == status
    assert (contract.commission, contract.markup) == (Decimal("0.00"), Decimal("0.00"))
    assert not Transfer.objects.filter(kind__in=[TransferKind.COMMISSION, TransferKind.MARKUP]).exists()
    assert revenue_balance() == Decimal("0.00")


def test_a_void_contract_carries_no_fee(demo_account, fees):
    market = make_market()
    contract = buy(demo_account, market, "RISE", "10.00", duration=1, unit="m")
    # Expired long ago with no tick after its purchase: no entry spot, so it is void.
    Contract.objects.filter(pk=contract.pk).update(expires_at=contract.purchased_at - timedelta(minutes=5))
    contracts_settle()
    contract.refresh_from_db()
    assert contract.status == Status.VOID
    assert (contract.amount_paid, contract.commission, contract.markup) == (Decimal("10.00"), 0, 0)
    assert balance(demo_account) == Decimal("10000.00")


def test_no_rule_and_no_partner_carries_nothing(demo_account):
    market = make_market()
    contract = buy(demo_account, market, "RISE", "10.00", duration=1)
    assert (contract.commission_rate, contract.markup_rate, contract.partner_id) == (0, 0, None)
    write_ticks(market, "100.00", "101.00")
    contracts_settle()
    contract.refresh_from_db()
    assert contract.amount_paid == Decimal("18.00")
    assert balance(demo_account) == Decimal("10008.00")


def test_fees_round_down_to_the_cent(demo_account, fees):
    market = make_market(payout_percent="87.30")
    contract = buy(demo_account, market, "RISE", "0.35", duration=1)
    # Payout 0.65 (0.35 x 1.873 = 0.65555, down to the cent): profit 0.30, commission 0.06, markup 0.03.
    assert (contract.payout, contract.commission, contract.markup) == (
        Decimal("0.65"),
        Decimal("0.06"),
        Decimal("0.03"),
    )
    assert Rates(Decimal("20"), Decimal("10"), None).on_win(stake=Decimal("1.00"), payout=Decimal("1.04")) == (
        Decimal("0.00"),
        Decimal("0.00"),
    )


def test_rates_change_while_open_contracts_keep_their_purchase_time_rates(demo_account, fees):
    market = make_market()
    before = buy(demo_account, market, "RISE", "10.00", duration=2)
    partner_markup_set(user=fees.user, markup="25")
    CommissionRule.objects.update(rate=Decimal("50.00"))
    after = buy(demo_account, market, "RISE", "10.00", duration=2)
    write_ticks(market, "100.00", "101.00", "102.00", "103.00")
    contracts_settle()
    before.refresh_from_db()
    after.refresh_from_db()
    assert (before.commission, before.markup, before.amount_paid) == tuple(map(Decimal, ("1.60", "0.80", "15.60")))
    assert (after.commission, after.markup, after.amount_paid) == tuple(map(Decimal, ("4.00", "2.00", "12.00")))
    assert earnings(fees) == Decimal("2.80")


def test_deriv_contracts_carry_no_nexus_fees():
    """Deriv settles its own contracts with its own money: rates are never recorded on them (see purchase._rates)."""
    from apps.trading.services.purchase import _rates

    class DerivBuyer:
        pk, user_id, type, realm = 1, 1, "DERIV_REAL", Realm.REAL

    market = type("M", (), {"source": "DERIV"})()
    assert _rates(market=market, buyers=[DerivBuyer()]) == {1: Rates()}


def test_bulk_purchases_record_each_traders_rates(demo_account, fees, other_user):
    from apps.accounts.services import account_open_demo

    market = make_market()
    other = account_open_demo(user=other_user)  # not referred: commission only
    with transaction.atomic():
        ids = contracts_buy_many(
            market=market,
            orders=[
                Order(Buyer.of(demo_account), "RISE", Decimal("10.00"), 1, "t", "bulk-1"),
                Order(Buyer.of(other), "RISE", Decimal("10.00"), 1, "t", "bulk-2"),
            ],
        )
    referred, plain = Contract.objects.get(pk=ids[0]), Contract.objects.get(pk=ids[1])
    assert (referred.commission, referred.markup, referred.partner_id) == (Decimal("1.60"), Decimal("0.80"), fees.pk)
    assert (plain.commission, plain.markup, plain.partner_id) == (Decimal("1.60"), Decimal("0.00"), None)
    write_ticks(market, "100.00", "101.00")
    contracts_settle()
    assert balance(other) == Decimal("10006.40")
    assert revenue_balance() == Decimal("3.20")


def test_a_disabled_partner_earns_nothing_on_new_contracts(demo_account, fees):
    fees.is_active = False
    fees.save()
    contract = buy(demo_account, make_market(), "RISE", "10.00", duration=1)
    assert (contract.markup_rate, contract.markup, contract.partner_id) == (0, 0, None)


def test_the_ledger_check_catches_fees_that_do_not_add_up(demo_account, fees):
    market = make_market()
    contract = buy(demo_account, market, "RISE", "10.00", duration=1)
    write_ticks(market, "100.00", "101.00")
    contracts_settle()
    assert ledger_breaches() == []
    Contract.objects.filter(pk=contract.pk).update(markup=Decimal("0.90"))
    found = ledger_breaches()
    assert any("commission and markup" in b for b in found)
    assert any("!= payout" in b for b in found)
    Contract.objects.filter(pk=contract.pk).update(markup=Decimal("0.80"))
