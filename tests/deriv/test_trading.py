"""Trading on a Deriv account, against the fake: the connection manager buys, follows and settles.

The manager runs as it does in `run_deriv` (its own threads), and `contract_buy`
reaches it over a Redis channel layer, as the web process does. The fake's
clock is frozen: `fake.advance(seconds)` sends the ticks that settle contracts.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.deriv import gateway
from apps.deriv.models import Connection, DerivAccount
from apps.ledger.models import AccountKind, LedgerAccount, Transfer, TransferKind
from apps.markets.models import Market
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle

from .conftest import wait_for
from .support import at_deriv_contract, buy, deriv, deriv_market, fresh, ledger_balance, run_until_settled

pytestmark = pytest.mark.django_db(transaction=True)

# ---------------------------------------------------------------- the happy path


def test_a_rise_is_bought_at_deriv_followed_and_settled_from_deriv_result(trader, account, deriv_on):
    market = deriv_market()
    before = ledger_balance(account)

    contract = buy(trader, account, market)

    assert contract.status == Status.OPEN and contract.at_deriv
    at_deriv = at_deriv_contract(deriv_on, contract.deriv_contract_id)
    assert at_deriv["underlying_symbol"] == "R_10" and at_deriv["contract_type"] == "CALL"
    assert contract.deriv_buy_price == Decimal("10.00") and contract.deriv_transaction_id
    # The payout is Deriv's quote, not the market row's display default.
    assert contract.payout == Decimal(str(at_deriv["payout"])) and contract.payout_percent == Decimal("95.00")
    # The mirrored stake left the ledger as Deriv's balance dropped.
    assert ledger_balance(account) == before - Decimal("10.00") == deriv_on.balance(account.external_id)

    run_until_settled(deriv_on, [contract.pk])

    contract.refresh_from_db()
    result = at_deriv_contract(deriv_on, contract.deriv_contract_id)
    assert contract.status == {"won": Status.WON, "lost": Status.LOST}[result["status"]]
    assert contract.amount_paid == Decimal(str(result["sell_price"])).quantize(Decimal("0.01"))
    assert contract.exit_spot == Decimal(str(result["exit_spot"])) and contract.entry_spot is not None
    assert contract.entry_spot == Decimal(str(result["entry_spot"]))
    wait_for(lambda: ledger_balance(account) == deriv_on.balance(account.external_id))
    # Settled once: one settlement set of transfers, none from the tick-based settlement.
    kinds = sorted(Transfer.objects.filter(reference=f"contract:{contract.pk}").values_list("kind", flat=True))
    assert kinds in (["PAYOUT", "PAYOUT", "STAKE"], ["LOSS", "STAKE"])


def test_a_win_and_a_loss_move_the_mirror_exactly_as_deriv_and_the_balance_stream_adds_nothing(
    trader, account, deriv_on
):
    market = deriv_market()
    deriv_on.inject_ticks("R_10", [100, 100.5, 101, 101.5, 102, 103, 104])
    rise = buy(trader, account, market, direction="RISE", key="rise")
    fall = buy(trader, account, market, direction="FALL", key="fall")

    run_until_settled(deriv_on, [rise.pk, fall.pk])

    rise.refresh_from_db()
    fall.refresh_from_db()
    assert (rise.status, fall.status) == (Status.WON, Status.LOST)
    assert rise.amount_paid == rise.payout and fall.amount_paid == 0
    wait_for(lambda: ledger_balance(account) == deriv_on.balance(account.external_id))
    world = LedgerAccount.objects.get(kind=AccountKind.DERIV, realm=account.ledger_account.realm)
    win = Transfer.objects.get(idempotency_key=f"contract:{rise.pk}:win")
    loss = Transfer.objects.get(idempotency_key=f"contract:{fall.pk}:loss")
    assert (win.debit_id, win.amount) == (world.pk, rise.payout - rise.stake)
    assert (loss.credit_id, loss.amount) == (world.pk, fall.stake)
    # No balance adjustment beyond the first sync: every movement was a contract's.
    assert Transfer.objects.filter(credit=account.ledger_account, kind=TransferKind.ADJUSTMENT).count() == 1


def test_an_equal_exit_loses_on_deriv_as_deriv_says(trader, account, deriv_on):
    market = deriv_market()
    deriv_on.inject_ticks("R_10", [100, 101, 102, 103, 104, 100])
    contract = buy(trader, account, market, duration=5)
    run_until_settled(deriv_on, [contract.pk])
    contract.refresh_from_db()
    result = at_deriv_contract(deriv_on, contract.deriv_contract_id)
    assert contract.status == Status.LOST and result["status"] == "lost"


def test_the_same_idempotency_key_buys_once_at_deriv(trader, account, deriv_on):
    market = deriv_market()
    first = buy(trader, account, market, key="twice")
    again = buy(trader, account, market, key="twice")
    assert again.pk == first.pk
    assert len(deriv_on.requests("buy", kind="demo")) == 1


def test_tick_settlement_never_touches_a_deriv_contract(trader, account, deriv_on):
    market = deriv_market()
    contract = buy(trader, account, market)
    # However many of our own ticks pass, a Deriv contract waits for Deriv.
    Market.objects.filter(pk=market.pk).update(last_seq=contract.purchase_seq + 50)
    Contract.objects.filter(pk=contract.pk).update(purchased_at=timezone.now() - timedelta(hours=1))
    assert contracts_settle() == []
    contract.refresh_from_db()
    assert contract.status == Status.OPEN


def test_a_minute_contract_settles_at_expiry(trader, account, deriv_on):
    market = deriv_market()
    contract = buy(trader, account, market, duration=1, unit="m")
    assert contract.status == Status.OPEN
    run_until_settled(deriv_on, [contract.pk], seconds=62)
    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST) and contract.exit_time is not None


# ---------------------------------------------------------------- which account trades which market


def test_an_otc_market_cannot_be_traded_from_a_deriv_account(trader, account, markets):
    otc = next(iter(markets.values()))
    fresh(otc)
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, otc)
    assert "Nexus market" in str(refused.value) and not Contract.objects.exists()


def test_a_deriv_market_cannot_be_traded_from_the_nexus_demo_account(trader, demo_account, manager):
    with pytest.raises(ValidationError) as refused:
        buy(trader, demo_account, deriv_market())
    assert "Deriv market" in str(refused.value) and not Contract.objects.exists()


def test_the_real_account_trades_in_the_real_books(trader, manager, deriv_on):
    real = deriv(trader, AccountType.DERIV_REAL)
    session = manager.session(real)
    wait_for(lambda: session.connected)
    contract = buy(trader, real, deriv_market(), stake="5.00")
    assert contract.status == Status.OPEN
    assert real.ledger_account.realm == "REAL"
    assert ledger_balance(real) == deriv_on.balance(real.external_id) == Decimal("995.00")


def test_without_a_manager_the_order_is_refused_and_the_stake_comes_back(
    client, trader, deriv_on, redis_layer, settings
):
    settings.DERIV = {**settings.DERIV, "BUY_TIMEOUT_S": 0.5}
    account = deriv(trader, AccountType.DERIV_DEMO)
    before = ledger_balance(account)
    with pytest.raises(ValidationError) as refused:
        buy(trader, account, deriv_market())
    assert "not available" in str(refused.value)
    contract = Contract.objects.get()
    assert contract.status == Status.REFUSED and contract.deriv_sent_at is None
    assert ledger_balance(account) == before and not deriv_on.requests("buy")
    # The contract's page says what happened; the trade page lists it among the results, not the positions.
    from django.urls import reverse

    client.force_login(trader)
    page = client.get(reverse("trading:contract", args=[contract.pk])).content.decode()
    assert "Refused by Deriv" in page and "not available right now" in page


def test_the_gateway_reaches_a_listening_manager(manager):
    assert gateway.ping()


def test_unlinking_closes_the_traders_sockets(trader, account, manager, deriv_on):
    from apps.deriv.services import on_unlink

    real = deriv(trader, AccountType.DERIV_REAL)
    wait_for(lambda: manager.session(real).connected)
    assert deriv_on.socket_count("demo") == 1 and deriv_on.socket_count("real") == 1
    on_unlink(user=trader)
    wait_for(lambda: deriv_on.socket_count("demo") + deriv_on.socket_count("real") == 0, timeout=10)
    assert not manager.manager.sessions
    assert DerivAccount.objects.get(trading_account=account).connection == Connection.UNLINKED


def test_the_trade_page_lists_deriv_markets_and_says_why_a_disconnected_account_cannot_trade(client, trader, deriv_on):
    from django.urls import reverse

    from apps.accounts.services import account_select
    from apps.deriv import services

    account = deriv(trader, AccountType.DERIV_DEMO)
    account_select(user=trader, account=account)
    market = deriv_market()
    client.force_login(trader)

    page = client.get(reverse("trading:trade")).content.decode()
    assert market.name in page and 'data-testid="trade-refusal"' not in page

    services.deriv_account_connection(account_id=account.pk, connected=False, reason=services.REASON_EXPIRED)
    page = client.get(reverse("trading:trade"), {"market": market.symbol}).content.decode()
    assert 'data-testid="trade-refusal"' in page and "Link Deriv again" in page
    assert 'value="RISE" class="rise" disabled' in page
