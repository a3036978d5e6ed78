"""Every Deriv contract ends, paid as Deriv paid it: what a real Deriv does now and then, taught to the fake.

Each test turns one of the fake's quirks or faults on (`fake.quirk(...)`,
`fake.fail_next(...)`, `fake.close_contract(...)`) and runs the connection
manager against it. The autouse ledger check runs after every test.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.deriv import adapter
from apps.deriv.session import AccountSession
from apps.markets.models import Market
from apps.trading.models import Contract, Status

from .conftest import OtpProvider, wait_for
from .support import at_deriv_contract, buy, deriv, deriv_market, ledger_balance, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)


def mirror_matches(fake, account) -> bool:
    return ledger_balance(account) == fake.balance(account.external_id)


def status_of(contract) -> str:
    return Contract.objects.filter(pk=contract.pk).values_list("status", flat=True).get()


def derivs_verdict(fake, contract) -> str:
    return {"won": Status.WON, "lost": Status.LOST}[at_deriv_contract(fake, contract.deriv_contract_id)["status"]]


RISING = [100, 100.5, 101, 101.5, 102, 103, 104]


# ---------------------------------------------------------------- 1. is_sold is final, whatever status says


def test_a_cancelled_contract_ends_void_with_the_stake_back(trader, account, deriv_on):
    before = ledger_balance(account)
    contract = buy(trader, account, deriv_market())

    deriv_on.close_contract(contract.deriv_contract_id, "cancelled")  # Deriv refunds the buy price

    wait_for(lambda: status_of(contract) != Status.OPEN, timeout=5)
    contract.refresh_from_db()
    assert contract.status == Status.VOID and contract.amount_paid == contract.stake
    assert ledger_balance(account) == before
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_contract_sold_at_its_buy_price_with_a_null_status_ends_void(trader, account, deriv_on):
    before = ledger_balance(account)
    deriv_on.quirk("status_null")
    contract = buy(trader, account, deriv_market())

    deriv_on.close_contract(contract.deriv_contract_id, "sold", contract.stake)

    wait_for(lambda: status_of(contract) != Status.OPEN, timeout=5)
    contract.refresh_from_db()
    assert contract.status == Status.VOID and contract.amount_paid == contract.stake
    assert ledger_balance(account) == before
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_won_contract_with_a_null_status_is_judged_by_what_came_back(trader, account, deriv_on):
    deriv_on.quirk("status_null")
    deriv_on.inject_ticks("R_10", RISING)
    contract = buy(trader, account, deriv_market(), direction="RISE")

    run_until_settled(deriv_on, [contract.pk])

    contract.refresh_from_db()
    assert contract.status == Status.WON and contract.amount_paid == contract.payout
    wait_for(lambda: mirror_matches(deriv_on, account))


@pytest.mark.parametrize("quirk", ["flags_as_booleans", "epochs_as_strings", "odd_field"])
def test_contract_updates_in_derivs_other_spellings_still_settle(trader, account, deriv_on, quirk, caplog):
    deriv_on.quirk(quirk)
    contract = buy(trader, account, deriv_market())

    run_until_settled(deriv_on, [contract.pk])

    contract.refresh_from_db()
    assert contract.status == derivs_verdict(deriv_on, contract)
    assert contract.entry_time is not None and contract.exit_time is not None
    wait_for(lambda: mirror_matches(deriv_on, account))
    if quirk == "odd_field":
        assert "odd fields read as missing: current_spot_time" in caplog.text


def test_the_adapter_reads_booleans_numeric_string_epochs_and_skips_an_odd_field(caplog):
    body = {
        "contract_id": "244821136548",
        "is_sold": True,
        "is_expired": "true",
        "is_valid_to_sell": False,
        "status": None,
        "buy_price": "10.00",
        "sell_price": "10.00",
        "entry_spot_time": "1700000006.0",
        "exit_spot_time": "1700000012",
        "sell_time": 1700000012.0,
        "current_spot": {"quote": 1},
    }
    poc = adapter.parse_open_contract({"msg_type": "proposal_open_contract", "proposal_open_contract": body})
    assert poc.contract_id == 244821136548 and poc.is_sold and poc.is_expired and not poc.is_valid_to_sell
    assert poc.is_settled and poc.status is None
    assert (poc.entry_spot_time, poc.exit_spot_time, poc.sell_time) == (1700000006, 1700000012, 1700000012)
    assert poc.current_spot is None and poc.odd_fields == ("current_spot",)
    assert poc.sell_price == Decimal("10.00")
    assert "current_spot" in caplog.text


# ---------------------------------------------------------------- 2. a win without sell_price pays the payout


def test_a_won_contract_whose_final_update_lacks_sell_price_is_paid_derivs_payout(trader, account, deriv_on):
    deriv_on.quirk("no_sell_price")
    deriv_on.inject_ticks("R_10", RISING)
    contract = buy(trader, account, deriv_market(), direction="RISE")

    run_until_settled(deriv_on, [contract.pk])

    contract.refresh_from_db()
    assert contract.status == Status.WON
    assert contract.amount_paid == contract.payout > contract.stake
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_settled_deriv_contract_records_the_app_markup_deriv_reports_and_carries_no_nexus_fee(
    trader, account, deriv_on
):
    deriv_on.inject_ticks("R_10", RISING)
    contract = buy(trader, account, deriv_market(), direction="RISE")

    run_until_settled(deriv_on, [contract.pk])

    contract.refresh_from_db()
    assert contract.deriv_app_markup is not None and contract.deriv_app_markup > 0
    assert (contract.commission, contract.markup, contract.partner_id) == (0, 0, None)
    page = trader_page(trader, contract)
    assert "app markup" in page


def trader_page(user, contract) -> str:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    return client.get(reverse("trading:contract", args=[contract.pk])).content.decode()


# ---------------------------------------------------------------- 3. routing


def test_a_req_id_echoed_as_a_string_still_matches_its_request(trader, account, deriv_on):
    deriv_on.quirk("req_id_string")
    contract = buy(trader, account, deriv_market())

    assert contract.status == Status.OPEN and contract.deriv_contract_id
    assert not deriv_on.requests("portfolio")  # answered, not reconciled
    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: mirror_matches(deriv_on, account))


@pytest.mark.parametrize("quirk", ["no_msg_type", "poc_other_subscription"])
def test_contract_updates_reach_their_contract_by_its_id(trader, account, deriv_on, manager, quirk):
    deriv_on.quirk(quirk)
    contract = buy(trader, account, deriv_market())
    assert contract.status == Status.OPEN

    run_until_settled(deriv_on, [contract.pk], timeout=5)  # well before the watchdog would ask

    contract.refresh_from_db()
    assert contract.status == derivs_verdict(deriv_on, contract)
    wait_for(lambda: mirror_matches(deriv_on, account))


# ---------------------------------------------------------------- 4. the watchdog


def test_a_contract_whose_stream_stays_silent_is_asked_about_once_after_its_end(trader, account, deriv_on, monkeypatch):
    monkeypatch.setattr(AccountSession, "WATCHDOG_GRACE_S", 0.5)
    market = deriv_market()
    Market.objects.filter(pk=market.pk).update(tick_interval_ms=100)  # a 5-tick contract is due in 0.7 s
    deriv_on.quirk("silent_poc_streams")
    contract = buy(trader, account, market)

    deriv_on.advance(14)  # settled at Deriv; its stream says nothing

    wait_for(lambda: status_of(contract) != Status.OPEN, timeout=10)
    contract.refresh_from_db()
    assert contract.status == derivs_verdict(deriv_on, contract)
    polls = [
        r
        for r in deriv_on.requests("proposal_open_contract")
        if r.get("contract_id") == contract.deriv_contract_id and "subscribe" not in r
    ]
    assert len(polls) == 1
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_pending_order_older_than_a_minute_is_reconciled_by_the_sweep(trader, account, deriv_on, manager, clients):
    from .test_manager import pending

    # The session lost track of a sent order (it is not among its uncertain buys), which Deriv bought.
    order = pending(trader, account, deriv_market(), key="forgotten", age=timedelta(minutes=2))
    elsewhere = clients(url_provider=OtpProvider(deriv_on), name="elsewhere").connect()
    quote = adapter.parse_proposal(
        elsewhere.call(
            adapter.proposal_request(
                symbol="R_10", direction="RISE", stake=Decimal("10"), duration=5, duration_unit="t", currency="USD"
            )
        )
    )
    bought = adapter.parse_buy(elsewhere.call(adapter.buy_request(quote.id, Decimal("10"), subscribe=False)))
    elsewhere.close()

    manager.manager.sweep()

    wait_for(lambda: status_of(order) == Status.OPEN, timeout=10)
    order.refresh_from_db()
    assert order.deriv_contract_id == bought.contract_id
    run_until_settled(deriv_on, [order.pk])
    wait_for(lambda: mirror_matches(deriv_on, account))


# ---------------------------------------------------------------- 5. late and ambiguous buys


def test_a_buy_answered_with_internal_error_is_uncertain_and_found_at_deriv(trader, account, deriv_on):
    deriv_on.fail_next("buy", "InternalError", processed=True)  # Deriv bought it, then failed to say so

    contract = buy(trader, account, deriv_market())

    assert contract.status in (Status.PENDING, Status.OPEN)  # never refused
    wait_for(lambda: status_of(contract) == Status.OPEN, timeout=10)
    contract.refresh_from_db()
    assert deriv_on.open_contracts(account.external_id) == [contract.deriv_contract_id]
    assert len(deriv_on.requests("buy")) == 1
    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_an_error_without_a_code_waits_before_it_refunds_an_order_deriv_never_had(
    trader, account, deriv_on, monkeypatch
):
    monkeypatch.setattr(AccountSession, "UNCERTAIN_WAIT_S", 2.0)
    deriv_on.fail_next("buy", None, "Something went wrong")

    contract = buy(trader, account, deriv_market())

    assert contract.status == Status.PENDING
    wait_for(lambda: deriv_on.requests("profit_table") and deriv_on.requests("statement"), timeout=5)
    assert status_of(contract) == Status.PENDING  # Deriv has not had its time to show it yet
    wait_for(lambda: status_of(contract) == Status.REFUSED, timeout=10)
    contract.refresh_from_db()
    assert (timezone.now() - contract.deriv_sent_at).total_seconds() >= 2.0
    assert "did not take the order" in contract.deriv_note
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_late_buy_answer_still_opens_the_contract(trader, account, deriv_on):
    deriv_on.fail_next("portfolio", "InternalError", times=1000)  # reconciliation learns nothing meanwhile
    deriv_on.delay_next("buy", 4.0)  # longer than the client waits (3 s)
    bought = {}
    buying = threading.Thread(target=lambda: bought.setdefault("contract", buy(trader, account, deriv_market())))
    buying.start()
    buying.join(15)

    contract = bought["contract"]
    assert contract.status in (Status.PENDING, Status.OPEN)
    wait_for(lambda: status_of(contract) == Status.OPEN, timeout=10)
    contract.refresh_from_db()
    assert contract.deriv_contract_id == deriv_on.open_contracts(account.external_id)[0]
    deriv_on.clear_faults("portfolio")
    run_until_settled(deriv_on, [contract.pk])
    wait_for(lambda: mirror_matches(deriv_on, account))


def test_a_contract_bought_and_settled_before_reconciliation_is_found_in_the_profit_table(
    trader, account, deriv_on, manager
):
    deriv_on.rest_rate_limit = 100_000
    deriv_on.inject_ticks("R_10", RISING)
    deriv_on.drop_on_next("buy")  # Deriv buys; the socket dies before the answer
    deriv_on.fail_next("otp", "InternalError", status=503, times=100_000)  # and stays down a while

    contract = buy(trader, account, deriv_market(), direction="RISE")

    assert contract.status == Status.PENDING
    deriv_on.advance(14)  # the contract ends at Deriv while we are away
    assert deriv_on.open_contracts(account.external_id) == []
    deriv_on.clear_faults("otp")

    wait_for(lambda: status_of(contract) not in (Status.PENDING, Status.OPEN), timeout=15)
    contract.refresh_from_db()
    assert contract.status == Status.WON and contract.amount_paid == contract.payout
    assert deriv_on.requests("profit_table")
    assert len(deriv_on.requests("buy")) == 1
    wait_for(lambda: mirror_matches(deriv_on, account))


@pytest.mark.parametrize("code", ["InvalidContractProposal", "InsufficientBalance", "PriceMoved"])
def test_definite_refusals_still_refuse_at_once(trader, account, deriv_on, code):
    deriv_on.fail_next("buy", code)
    with pytest.raises(ValidationError):
        buy(trader, account, deriv_market())
    assert Contract.objects.get().status == Status.REFUSED
    assert not deriv_on.requests("portfolio")


# ---------------------------------------------------------------- 9. ledger_check


def test_ledger_check_reports_a_deriv_contract_open_long_past_its_end(trader, account, deriv_on):
    from apps.ledger.checks import ledger_breaches

    contract = buy(trader, account, deriv_market())
    assert not [b for b in ledger_breaches() if "past its expected end" in b]

    Contract.objects.filter(pk=contract.pk).update(deriv_sent_at=timezone.now() - timedelta(minutes=20))

    (breach,) = [b for b in ledger_breaches() if "past its expected end" in b]
    assert f"Deriv contract {contract.pk} (Deriv {contract.deriv_contract_id})" in breach
    # Deriv's word ends it (and the suite's own ledger check after this test).
    deriv_on.close_contract(contract.deriv_contract_id, "cancelled")
    wait_for(lambda: status_of(contract) == Status.VOID, timeout=5)
    assert not [b for b in ledger_breaches() if "past its expected end" in b]


def test_ledger_check_reports_escrow_held_for_an_unlinked_account(user, deriv_on, redis_layer):
    from apps.deriv.services import on_unlink
    from apps.ledger.checks import ledger_breaches
    from apps.trading.services import deriv_contract_refuse

    from .support import link_user
    from .test_manager import pending

    link_user(user, deriv_on)
    account = deriv(user, AccountType.DERIV_DEMO)
    fresh_order = pending(user, account, deriv_market(), key="fresh")
    old_order = pending(user, account, deriv_market(), key="old", stake="3.00", age=timedelta(minutes=30))
    assert not [b for b in ledger_breaches() if "unlinked" in b]  # linked: the session will settle them

    on_unlink(user=user)

    (breach,) = [b for b in ledger_breaches() if "unlinked" in b]
    assert breach == f"escrow holds 3.00 for unlinked Deriv account {account.external_id} (contracts {old_order.pk})"
    for order in (fresh_order, old_order):
        deriv_contract_refuse(contract_id=order.pk, note="test over")
    assert not [b for b in ledger_breaches() if "unlinked" in b]
