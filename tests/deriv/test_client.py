import logging
import threading
from decimal import Decimal

import pytest

from apps.deriv import adapter
from apps.deriv.client import RequestRateLimiter
from apps.deriv.errors import (
    AlreadySubscribed,
    AuthorizationRequired,
    ContractBuyValidationError,
    DerivTimeout,
    HandshakeRefused,
    InputValidationFailed,
    InsufficientBalance,
    InvalidContractProposal,
    InvalidSymbol,
    RateLimit,
    TooManySubscriptions,
    UncertainPurchase,
)

from .conftest import Collector, OtpProvider, wait_for
from .support import pong

TIME = {"time": 1}  # a plain call with a known answer (the fake's clock)


def rise(symbol="R_100", stake="10", ticks=5, **kwargs):
    return adapter.proposal_request(
        symbol=symbol,
        direction="RISE",
        stake=Decimal(stake),
        duration=ticks,
        duration_unit="t",
        currency="USD",
        **kwargs,
    )


def buy(client, callback=None, **kwargs):
    proposal = adapter.parse_proposal(client.call(rise(**kwargs)))
    return client.buy(adapter.buy_request(proposal.id, proposal.ask_price), callback)


# ---------------------------------------------------------------- calls


def test_concurrent_calls_each_get_their_own_answer_even_out_of_order(fake_deriv, public):
    fake_deriv.delay_next("ping", 0.3)  # the first ping answers last
    results = {}

    def run(n):
        request = adapter.ping_request() if n % 3 == 0 else TIME
        if n % 3 == 2:
            request = adapter.ticks_history_request("R_50", count=n)
        results[n] = public.call(request)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(results) == 30
    for n, answer in results.items():
        if n % 3 == 0:
            assert answer["msg_type"] == "ping" and answer["ping"] == "pong"
        elif n % 3 == 1:
            assert answer["msg_type"] == "time" and answer["time"] == 1700000000
        else:
            assert answer["msg_type"] == "history" and len(answer["history"]["prices"]) == n


def test_a_deriv_error_is_raised_as_its_typed_exception(fake_deriv, public):
    with pytest.raises(InvalidSymbol):
        public.call(adapter.ticks_request("R_999", subscribe=False))
    with pytest.raises(ContractBuyValidationError) as caught:
        public.call(rise(stake="0.10"))
    assert "Minimum stake of 0.35" in caught.value.message and caught.value.details == {"field": "amount"}


def test_rate_limit_from_deriv_is_typed_and_the_socket_stays_open(fake_deriv, public):
    fake_deriv.ws_rate_limit = 3
    answers = []
    with pytest.raises(RateLimit) as caught:
        for _ in range(5):
            answers.append(public.call(TIME))
    assert len(answers) == 3 and "rate limit for time" in caught.value.message
    fake_deriv.ws_rate_limit = 100
    fake_deriv.fail_next("proposal", "RateLimit")  # another group: `time`'s rests a minute now
    with pytest.raises(RateLimit) as caught:
        public.call(rise())
    assert "rate limit for proposal" in caught.value.message
    assert public.connected and public.connections == 1


def test_our_own_limiter_waits_for_room():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RequestRateLimiter(100, clock=lambda: now[0], sleep=sleep)
    assert all(limiter.acquire(1.0) for _ in range(100))
    assert limiter.acquire(2.0) and slept == [1.0]
    full = RequestRateLimiter(1, clock=lambda: 5.0, sleep=sleep)
    assert full.acquire(0) and not full.acquire(0.5)


def test_authenticated_calls_on_the_public_socket_need_authorization(fake_deriv, public):
    with pytest.raises(AuthorizationRequired):
        public.call(adapter.balance_request(subscribe=False))


def test_a_malformed_message_is_logged_and_ignored(fake_deriv, public, caplog):
    caplog.set_level(logging.WARNING, logger="apps.deriv.client")
    fake_deriv.send_raw("{not json")
    fake_deriv.send_raw("[1, 2]")
    fake_deriv.send_raw('{"no_msg_type": true}')
    fake_deriv.send_raw('{"msg_type": "tick", "req_id": 424242, "tick": {}}')  # nobody asked
    assert pong(public)
    assert public.connected and public.connections == 1
    assert caplog.text.count("ignored a malformed message") == 3


def test_a_call_without_an_answer_times_out(fake_deriv, public):
    fake_deriv.delay_next("time", 1.0)
    with pytest.raises(DerivTimeout):
        public.call(TIME, timeout=0.1)
    assert pong(public)  # the late answer is dropped, nothing breaks


# ---------------------------------------------------------------- subscriptions


def test_subscribe_streams_ticks_until_forgotten(fake_deriv, public):
    ticks = Collector()
    sub = public.subscribe(adapter.ticks_request("R_100"), ticks)
    assert sub.id and len(ticks.of("tick")) == 1
    fake_deriv.advance(4)  # R_100 ticks every 2 s
    wait_for(lambda: len(ticks.messages) == 3)
    assert {adapter.parse_tick(m).subscription_id for m in ticks.messages} == {sub.id}
    assert public.forget(sub) is True
    fake_deriv.advance(10)
    assert pong(public)
    assert len(ticks.messages) == 3
    assert fake_deriv.subscription_count() == 0


def test_one_hz_indices_tick_every_second(fake_deriv, public):
    ticks = Collector()
    public.subscribe(adapter.ticks_request("1HZ100V"), ticks)
    fake_deriv.advance(4)
    wait_for(lambda: len(ticks.messages) == 5)
    epochs = [adapter.parse_tick(m).epoch for m in ticks.messages]
    assert [b - a for a, b in zip(epochs, epochs[1:], strict=False)] == [1, 1, 1, 1]


def test_subscribing_twice_to_the_same_stream_is_already_subscribed(fake_deriv, public):
    first = public.subscribe(adapter.ticks_request("R_10"), Collector())
    with pytest.raises(AlreadySubscribed):
        public.subscribe(adapter.ticks_request("R_10"), Collector())
    assert public.subscriptions == [first]


def test_subscription_limits_ours_and_deriv_s(fake_deriv, clients):
    ours = clients(fake_deriv.ws_public_url, max_subscriptions=2).connect()
    ours.subscribe(adapter.ticks_request("R_10"), Collector())
    ours.subscribe(adapter.ticks_request("R_25"), Collector())
    with pytest.raises(TooManySubscriptions):
        ours.subscribe(adapter.ticks_request("R_50"), Collector())
    fake_deriv.max_subscriptions = 1
    theirs = clients(fake_deriv.ws_public_url).connect()
    theirs.subscribe(adapter.ticks_request("R_10"), Collector())
    with pytest.raises(RateLimit):
        theirs.subscribe(adapter.ticks_request("R_25"), Collector())


# ---------------------------------------------------------------- reconnecting


@pytest.mark.parametrize("mode", ["abrupt", "close"])
def test_after_a_drop_it_reconnects_with_a_fresh_otp_and_resubscribes(fake_deriv, demo, mode):
    ticks, balances = Collector(), Collector()
    tick_sub = demo.subscribe(adapter.ticks_request("R_100"), ticks)
    demo.subscribe(adapter.balance_request(), balances)
    old_id = tick_sub.id
    assert fake_deriv.drop_sockets("demo", mode=mode, code=1001) == 1
    wait_for(lambda: demo.connections == 2 and all(s.id for s in demo.subscriptions))
    assert len(demo.provider.urls) == 2 and demo.provider.urls[0] != demo.provider.urls[1]
    assert tick_sub.id != old_id
    before = len(ticks.messages)
    fake_deriv.advance(2)
    wait_for(lambda: len(ticks.messages) == before + 1)
    assert fake_deriv.subscription_count("demo") == 2
    wait_for(lambda: len(balances.messages) == 2)  # the re-subscribed balance answered again


def test_a_used_or_expired_otp_is_refused_and_the_provider_is_asked_again(fake_deriv, clients):
    provider = OtpProvider(fake_deriv)
    url = provider()
    clients(url, reconnect=False).connect()
    with pytest.raises(HandshakeRefused) as caught:
        clients(url, reconnect=False).connect()
    assert caught.value.status == 401
    stale = provider()
    fake_deriv.advance(31)
    with pytest.raises(HandshakeRefused):
        clients(stale, reconnect=False).connect()
    assert "otp=" not in str(caught.value)


def test_the_sixth_socket_of_a_user_is_refused(fake_deriv, clients):
    provider = OtpProvider(fake_deriv)
    for _ in range(5):
        clients(url_provider=provider).connect()
    with pytest.raises(HandshakeRefused) as caught:
        clients(url_provider=provider).connect()
    assert caught.value.status == 429


def test_reconnecting_stops_when_the_token_is_revoked(fake_deriv, clients):
    states = []
    provider = OtpProvider(fake_deriv)
    client = clients(url_provider=provider, on_state=lambda s, r: states.append((s, r))).connect()
    fake_deriv.revoke_token(provider.token)
    fake_deriv.drop_sockets("demo")
    wait_for(lambda: client.state == "failed")
    assert "Unauthorized" in client.state_reason and not client.connected


def test_pings_keep_an_idle_socket_open(fake_deriv, clients):
    fake_deriv.inactivity_timeout = 0.3
    pinged = clients(fake_deriv.ws_public_url, ping_interval=0.05).connect()
    silent = clients(fake_deriv.ws_public_url).connect()
    wait_for(lambda: silent.connections == 2, timeout=3)
    assert pinged.connections == 1


# ---------------------------------------------------------------- trading


def test_a_contract_is_bought_followed_and_settled_with_deriv_s_result(fake_deriv, demo):
    updates = Collector()
    fake_deriv.inject_ticks("R_100", [100.0, 100.5, 101.0, 100.2, 100.0, 100.0])
    answer, sub = buy(demo, updates, ticks=5)
    purchase = adapter.parse_buy(answer)
    assert purchase.buy_price == Decimal("10") and purchase.balance_after == Decimal("9990")
    fake_deriv.advance(12)
    wait_for(lambda: any(adapter.parse_open_contract(m).is_settled for m in updates.of("proposal_open_contract")))
    final = adapter.parse_open_contract(updates.of("proposal_open_contract")[-1])
    # entry is the first tick after the purchase (100.0), exit the 5th after it (100.0): equal → CALL loses
    assert final.entry_spot == Decimal("100.00") and final.exit_spot == Decimal("100.00")
    assert final.status == "lost" and final.sell_price == 0 and final.profit == Decimal("-10")
    assert fake_deriv.balance(fake_deriv.account_id("demo")) == Decimal("9990")


def test_a_rise_wins_on_a_strictly_higher_exit(fake_deriv, demo):
    updates = Collector()
    fake_deriv.inject_ticks("R_100", [100.0, 99.0, 100.01])
    buy(demo, updates, ticks=2)
    fake_deriv.advance(6)
    wait_for(lambda: any(adapter.parse_open_contract(m).is_settled for m in updates.of("proposal_open_contract")))
    final = adapter.parse_open_contract(updates.of("proposal_open_contract")[-1])
    assert final.won and final.sell_price == Decimal("19.50") and final.exit_spot == Decimal("100.01")


def test_buy_errors_are_typed(fake_deriv, demo):
    proposal = adapter.parse_proposal(demo.call(rise()))
    demo.call(adapter.buy_request(proposal.id, proposal.ask_price, subscribe=False))
    with pytest.raises(InvalidContractProposal):  # a proposal buys once
        demo.call(adapter.buy_request(proposal.id, proposal.ask_price, subscribe=False))
    fake_deriv.set_balance(fake_deriv.account_id("demo"), 5)
    with pytest.raises(InsufficientBalance):
        buy(demo)
    fake_deriv.fail_next("buy", "InvalidContractProposal")
    with pytest.raises(InvalidContractProposal):
        buy(demo)


def test_a_buy_whose_answer_is_lost_is_uncertain_and_never_retried(fake_deriv, demo):
    fake_deriv.drop_on_next("buy")
    with pytest.raises(UncertainPurchase):
        buy(demo, Collector())
    wait_for(lambda: demo.connections == 2)
    assert len(fake_deriv.requests("buy")) == 1
    assert demo.subscriptions == []
    # The caller reconciles: the contract did get bought at Deriv.
    contracts = adapter.parse_portfolio(demo.call(adapter.portfolio_request()))
    assert [c.contract_id for c in contracts] == fake_deriv.open_contracts()
    assert len(fake_deriv.requests("buy")) == 1


def test_a_buy_without_an_answer_in_time_is_uncertain(fake_deriv, demo):
    fake_deriv.delay_next("buy", 0.5)
    proposal = adapter.parse_proposal(demo.call(rise()))
    with pytest.raises(UncertainPurchase):
        demo.call(adapter.buy_request(proposal.id, proposal.ask_price, subscribe=False), timeout=0.1)
    assert len(fake_deriv.requests("buy")) == 1


def test_ten_open_contracts_survive_a_drop_and_each_settles_once(fake_deriv, demo):
    followers = [Collector() for _ in range(10)]
    for follower in followers:
        buy(demo, follower, ticks=3)
    fake_deriv.advance(2)
    fake_deriv.drop_sockets("demo")
    fake_deriv.advance(2)  # one tick while we are away
    wait_for(lambda: demo.connections == 2 and len([s for s in demo.subscriptions if s.id]) == 10)
    fake_deriv.advance(6)

    def settled(follower):
        return [m for m in follower.of("proposal_open_contract") if adapter.parse_open_contract(m).is_settled]

    wait_for(lambda: all(settled(f) for f in followers))
    fake_deriv.advance(4)
    assert pong(demo)
    assert [len(settled(f)) for f in followers] == [1] * 10
    assert len(fake_deriv.requests("buy")) == 10
    assert all("buy" not in s.request for s in demo.subscriptions)
    assert fake_deriv.open_contracts() == []


# ---------------------------------------------------------------- the fake's own checks


def test_an_invalid_request_is_answered_and_recorded(fake_deriv, public):
    legacy = {k: v for k, v in rise().items() if k != "underlying_symbol"} | {"symbol": "R_100"}
    with pytest.raises(InputValidationFailed) as caught:
        public.call(legacy)
    assert caught.value.details == {
        "symbol": "Properties not allowed: symbol.",
        "underlying_symbol": "Missing property.",
    }
    recorded = fake_deriv.take_invalid_requests()
    assert len(recorded) == 1 and recorded[0].request["symbol"] == "R_100"


def test_backoff_grows_exponentially_with_jitter_and_a_cap(clients, fake_deriv):
    low = clients(fake_deriv.ws_public_url, backoff_initial=0.5, backoff_max=30, jitter=lambda: 0.0)
    high = clients(fake_deriv.ws_public_url, backoff_initial=0.5, backoff_max=30, jitter=lambda: 1.0)
    assert [low.backoff_delay(n) for n in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert [high.backoff_delay(n) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert high.backoff_delay(20) == 30 and low.backoff_delay(20) == 15


def test_a_callback_cannot_wait_for_deriv(fake_deriv, public):
    failures = []

    def callback(message):
        try:
            public.call(TIME)
        except RuntimeError as exc:
            failures.append(exc)

    public.subscribe(adapter.ticks_request("R_25"), callback)
    assert len(failures) == 1 and pong(public)
    assert fake_deriv.requests("time") == []
