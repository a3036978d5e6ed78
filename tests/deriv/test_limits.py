"""Deriv's published limits: our budgets per socket and per user, the cool-off after a RateLimit, the fake's own."""

import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.deriv import adapter, budget, rest, services
from apps.deriv.budget import OverBudget, socket_budget
from apps.deriv.errors import RateLimit
from apps.deriv.models import Connection, DerivAccount
from apps.deriv.session import AccountSession
from apps.trading.models import Contract, Status

from .conftest import OtpProvider
from .support import buy, deriv_market, pong

TIME = {"time": 1}


def rise(stake="10"):
    return adapter.proposal_request(
        symbol="R_100", direction="RISE", stake=Decimal(stake), duration=5, duration_unit="t", currency="USD"
    )


def poll(contract_id):
    return adapter.open_contract_request(contract_id, subscribe=False)


@pytest.fixture
def clock():
    """A hand-moved clock for our budgets (the fake's own clock is moved with fake_deriv.advance)."""
    now = [1000.0]
    tick = lambda: now[0]  # noqa: E731
    tick.move = lambda seconds: now.__setitem__(0, now[0] + seconds)
    return tick


@pytest.fixture
def unthrottled(fake_deriv):
    """Lift Deriv's 100 requests a second at the fake, so a test can send a minute's worth in a moment."""
    fake_deriv.ws_rate_limit = 100_000
    return fake_deriv


@pytest.fixture
def trading(unthrottled, clients, clock):
    """An account's socket whose budget runs on `clock`."""
    return clients(
        url_provider=OtpProvider(unthrottled),
        name="demo",
        budget=socket_budget(clock=clock, sleep=clock.move),
        max_requests_per_second=100_000,
    ).connect()


def connection_of(account) -> tuple[str, str]:
    return tuple(DerivAccount.objects.filter(trading_account=account).values_list("connection", "reason").get())


def open_contract(client) -> int:
    proposal = adapter.parse_proposal(client.call(rise()))
    answer, _ = client.buy(adapter.buy_request(proposal.id, proposal.ask_price))
    return adapter.parse_buy(answer).contract_id


# ---------------------------------------------------------------- our budgets


def test_a_burst_of_polls_never_starves_a_buy(unthrottled, trading):
    contract_id = open_contract(trading)  # a proposal and a buy: two of the pricing group's 360
    polls = 0
    with pytest.raises(OverBudget):
        while True:
            trading.call(poll(contract_id))
            polls += 1
    # Polls stop 60 short of the limit (and never wait for room)...
    assert polls == 360 - 60 - 2
    assert len(unthrottled.requests("proposal_open_contract")) == polls
    # ...so a buy still goes through: its proposal and the buy itself.
    second = open_contract(trading)
    assert second != contract_id and len(unthrottled.open_contracts()) == 2
    assert trading.budget.used()[budget.PRICING] == 2 + polls + 2
    # Other groups have their own budgets.
    assert trading.call(adapter.balance_request(subscribe=False))["balance"]
    assert pong(trading)


def test_a_full_window_makes_an_order_wait_for_room_and_refuses_it_past_its_timeout(clock):
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.move(seconds)

    spent = socket_budget(clock=clock, sleep=sleep)
    for _ in range(360):
        spent.take("buy", timeout=0)
    with pytest.raises(OverBudget):
        spent.take("proposal", timeout=30)  # the oldest leaves the window in 60 s
    assert slept == []
    spent.take("proposal", timeout=60)
    assert slept == [60.0]


def test_after_a_rate_limit_nothing_of_that_group_is_sent_for_a_minute(unthrottled, trading, clock):
    unthrottled.fail_next("proposal", "RateLimit")
    with pytest.raises(RateLimit) as refused:
        trading.call(rise())
    assert not isinstance(refused.value, OverBudget)  # that one was Deriv's
    sent = len(unthrottled.requests("proposal")) + len(unthrottled.requests("buy"))

    clock.move(59.9)
    for request in (rise(), adapter.buy_request("an-id", Decimal("10")), poll(1)):
        with pytest.raises(OverBudget) as held:
            trading.call(request)
        assert "none sent for another" in held.value.message
    assert len(unthrottled.requests("proposal")) + len(unthrottled.requests("buy")) == sent
    assert not unthrottled.requests("proposal_open_contract")
    # The other groups, and the socket, carry on.
    assert trading.call(TIME)["time"] and trading.connected and trading.connections == 1
    assert trading.call(adapter.balance_request(subscribe=False))["balance"]

    clock.move(0.1)
    assert open_contract(trading)


def test_a_rate_limit_on_a_stream_cools_its_group_off_too(unthrottled, trading, clock):
    unthrottled.fail_next("balance", "RateLimit")
    with pytest.raises(RateLimit):
        trading.subscribe(adapter.balance_request(), lambda message: None)
    with pytest.raises(OverBudget):
        trading.call(adapter.balance_request(subscribe=False))
    assert open_contract(trading)  # pricing is not balance
    clock.move(60)
    assert trading.call(adapter.balance_request(subscribe=False))["balance"]


def test_rest_calls_are_budgeted_per_user(fake_deriv, clock, monkeypatch):
    monkeypatch.setattr(budget.rest_budgets, "clock", clock)
    for _ in range(80):
        budget.rest_budgets.take(7)
    with pytest.raises(OverBudget):
        budget.rest_budgets.take(7)
    budget.rest_budgets.take(8)  # another trader has their own 80
    clock.move(60)
    budget.rest_budgets.take(7)


# ---------------------------------------------------------------- the fake enforces Deriv's limits


def test_the_fake_refuses_the_361st_pricing_call_in_a_minute_and_keeps_the_socket(unthrottled, clients):
    generous = budget.Budget({group: 10_000 for group in budget.DEFAULT_LIMITS}, cool_off_s=0)  # ours stop first
    public = clients(unthrottled.ws_public_url, budget=generous, max_requests_per_second=100_000).connect()
    for _ in range(360):
        public.call(rise())
    with pytest.raises(RateLimit) as refused:
        public.call(rise())
    assert refused.value.code == "RateLimit" and "rate limit for proposal" in refused.value.message
    assert public.call(TIME)["time"]  # the general group is not the pricing group
    assert public.connected and public.connections == 1
    unthrottled.advance(60)
    assert public.call(rise())["proposal"]


def test_the_fake_limits_portfolio_to_30_and_balance_to_100_a_minute(unthrottled, clients):
    generous = budget.Budget({group: 10_000 for group in budget.DEFAULT_LIMITS}, cool_off_s=0)
    demo = clients(url_provider=OtpProvider(unthrottled), budget=generous).connect()
    for _ in range(30):
        demo.call(adapter.portfolio_request())
    with pytest.raises(RateLimit):
        demo.call(adapter.portfolio_request())
    for _ in range(100):
        demo.call(adapter.balance_request(subscribe=False))
    with pytest.raises(RateLimit):
        demo.call(adapter.balance_request(subscribe=False))
    unthrottled.advance(60)
    assert demo.call(adapter.portfolio_request())["portfolio"] is not None


def test_the_fake_counts_rest_calls_per_user_whatever_the_token(fake_deriv):
    fake_deriv.rest_rate_limit = 3
    one = rest.DerivRest(fake_deriv.issue_token(), base_url=fake_deriv.rest_base)
    two = rest.DerivRest(fake_deriv.issue_token(), base_url=fake_deriv.rest_base)
    other = rest.DerivRest(fake_deriv.issue_token(fake_deriv.add_user()), base_url=fake_deriv.rest_base)
    one.accounts()
    two.accounts()
    one.accounts()
    with pytest.raises(RateLimit) as refused:
        two.accounts()
    assert refused.value.status == 429
    assert other.accounts()
    assert fake_deriv.rest_calls() == 3


# ---------------------------------------------------------------- the trading socket


@pytest.mark.django_db(transaction=True)
def test_an_order_during_the_cool_off_is_refused_at_once_and_never_sent(trader, account, deriv_on, monkeypatch):
    monkeypatch.setattr(AccountSession, "RATE_COOLOFF_S", 0.0)  # what remains is the socket budget's minute
    deriv_on.fail_next("buy", "RateLimit")
    with pytest.raises(ValidationError) as first:
        buy(trader, account, deriv_market())
    assert services.REASON_RATE in first.value.messages[0]
    proposals = len(deriv_on.requests("proposal"))
    time.sleep(3 * AccountSession.TICK_S)  # the session looks at its cool-off every tick
    assert connection_of(account) == (Connection.DISCONNECTED, services.REASON_RATE)

    with pytest.raises(ValidationError) as second:
        buy(trader, account, deriv_market(), key="during")
    assert services.REASON_RATE in second.value.messages[0]
    assert len(deriv_on.requests("proposal")) == proposals
    assert set(Contract.objects.values_list("status", flat=True)) == {Status.REFUSED}


@pytest.mark.django_db(transaction=True)
def test_each_sockets_budget_used_is_a_metric(trader, account, deriv_on):
    from prometheus_client import REGISTRY

    buy(trader, account, deriv_market())
    time.sleep(3 * AccountSession.TICK_S)  # the session reports its budget every tick
    used = REGISTRY.get_sample_value("nexus_deriv_budget_used", {"account": str(account.pk), "group": budget.PRICING})
    assert used is not None and used >= 2  # the proposal and the buy
