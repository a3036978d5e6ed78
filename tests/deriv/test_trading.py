"""Trading on a Deriv account, against the fake: the connection manager buys, follows and settles.

The manager runs as it does in `runfeed` (its own threads), and `contract_buy`
reaches it over a Redis channel layer, as the web process does. The fake's
clock is frozen: `fake.advance(seconds)` sends the ticks that settle contracts.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.deriv import gateway
from apps.deriv.connections import DerivConnections
from apps.deriv.models import Connection, DerivAccount
from apps.ledger.models import AccountKind, LedgerAccount, Transfer, TransferKind
from apps.markets.models import Market, Source, TieRule
from apps.trading.models import Contract, Status
from apps.trading.services import contract_buy, contracts_settle
from tests.support.redis import embedded_redis_server

from .conftest import wait_for
from .test_accounts import deriv, link_user
from .test_oauth import deriv_on_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

FAST_CLIENT = {"backoff_initial": 0.01, "backoff_max": 0.05, "ping_interval": None, "request_timeout": 3.0}


@pytest.fixture(scope="session", name="redis_for_layer")
def redis_for_layer_fixture():
    with embedded_redis_server() as server:
        yield server


@pytest.fixture(name="redis_layer")
def redis_layer_fixture(redis_for_layer, settings):
    """The channel layer production uses (Redis pub/sub), so requests cross threads as they cross processes."""
    from channels.layers import channel_layers

    from nexus.settings import redis_channel_layers

    settings.CHANNEL_LAYERS = redis_channel_layers(redis_for_layer.url)
    channel_layers.backends.clear()
    yield
    gateway.close()
    channel_layers.backends.clear()


def deriv_market(symbol: str = "R_10") -> Market:
    market, _ = Market.objects.update_or_create(
        symbol=symbol,
        defaults={
            "name": symbol.replace("_", " "),
            "source": Source.DERIV,
            "base_price": Decimal("100"),
            "tie_rule": TieRule.LOSE,
            "tick_interval_ms": 2000,
            "decimals": 3,
            "payout_percent": Decimal("95.00"),
            "is_active": True,
        },
    )
    fresh(market)
    return market


def fresh(market: Market) -> None:
    """Prices are live (the Deriv feed would write them): trading is not paused."""
    Market.objects.filter(pk=market.pk).update(last_tick_at=timezone.now(), last_price=Decimal("100"))
    market.refresh_from_db()


class Manager:
    """The connection manager on its own thread, as runfeed runs it."""

    def __init__(self, **options):
        self.manager = DerivConnections(client_options=FAST_CLIENT, **options)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.manager.run_forever, args=(self.stopping.is_set,), daemon=True)

    def start(self):
        self.thread.start()
        wait_for(lambda: self.manager._listening.is_set() or None, timeout=10)
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(15)

    def session(self, account):
        return wait_for(lambda: self.manager.sessions.get(account.pk), timeout=10)


@pytest.fixture(name="manager")
def manager_fixture(redis_layer, deriv_on):
    running = Manager().start()
    yield running
    running.stop()


@pytest.fixture(name="trader")
def trader_fixture(user, deriv_on):
    link_user(user, deriv_on)
    return user


@pytest.fixture(name="account")
def account_fixture(trader, manager, deriv_on):
    """The trader's Deriv demo account, its socket up."""
    demo = deriv(trader, AccountType.DERIV_DEMO)
    session = manager.session(demo)
    wait_for(lambda: session.connected and session.balance_sub is not None and session.inbox.empty(), timeout=10)
    return demo


def buy(user, account, market, *, direction="RISE", stake="10.00", duration=5, unit="t", key=None):
    fresh(market)
    return contract_buy(
        user=user,
        account=account,
        market=market,
        direction=direction,
        stake=Decimal(stake),
        duration=duration,
        duration_unit=unit,
        idempotency_key=key or f"k-{timezone.now().timestamp()}-{direction}-{stake}",
    )


def at_deriv_contract(fake, deriv_id) -> dict:
    """The fake's view of a contract (its POC payload, numbers as numbers)."""
    return fake.contract(deriv_id)["proposal_open_contract"]


def ledger_balance(account) -> Decimal:
    return LedgerAccount.objects.get(pk=account.ledger_account_id).balance


def settled(contract_ids):
    return Contract.objects.filter(pk__in=contract_ids).exclude(status__in=[Status.OPEN, Status.PENDING]).count()


def run_until_settled(fake, contract_ids, *, seconds=14, timeout=10):
    """Advance Deriv's clock (5 ticks of R_10 take 10 s) and wait until every contract settled here."""
    ids = list(contract_ids)
    fake.advance(seconds)
    wait_for(lambda: settled(ids) == len(ids), timeout=timeout)


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
