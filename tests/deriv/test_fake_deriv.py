"""The fake itself: schema validation, the fixture that fails on invalid requests, and §10 semantics
that the client tests do not already cover. Raw websocket-client sockets, to send exactly what we want."""

import json

import pytest
import websocket

from tests.fakes.deriv import FakeDeriv
from tests.fakes.deriv.fixtures import fake_deriv_fixture, running_fake_deriv
from tests.fakes.deriv.market import FakeClock
from tests.fakes.deriv.validation import validate

from .conftest import OtpProvider


class Raw:
    """A bare socket: send a dict, read the next message."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=3)

    def ask(self, request):
        self.ws.send(json.dumps(request))
        return self.read()

    def read(self):
        return json.loads(self.ws.recv())

    def close(self):
        self.ws.close()


@pytest.fixture
def raw(fake_deriv):
    sockets = []

    def open_(url=None):
        sock = Raw(url or fake_deriv.ws_public_url)
        sockets.append(sock)
        return sock

    yield open_
    for sock in sockets:
        sock.close()


PROPOSAL = {
    "proposal": 1,
    "amount": 10,
    "basis": "stake",
    "contract_type": "CALL",
    "currency": "USD",
    "duration": 5,
    "duration_unit": "t",
    "underlying_symbol": "R_100",
}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "request_, field",
    [
        ({**{k: v for k, v in PROPOSAL.items() if k != "underlying_symbol"}, "symbol": "R_100"}, "symbol"),
        ({"buy": "x" * 36, "price": "10"}, "price"),
        ({"ticks_history": "R_50"}, "end"),
        ({"forget_all": ["ticks", "bogus"]}, "forget_all"),
        ({"balance": 1, "account": "all"}, "account"),
        ({"proposal_open_contract": 1, "contract_id": 1, "loginid": "CR1"}, "loginid"),
        ({"ticks": "R_50", "req_id": "7"}, "req_id"),
        ({"profit_table": 1, "loginid": "CR1"}, "loginid"),
        ({"statement": 1, "action_type": "bet"}, "action_type"),
    ],
)
def test_new_api_schema_refuses(request_, field):
    result = validate(request_)
    assert not result.ok and field in result.details


@pytest.mark.parametrize(
    "request_",
    [
        PROPOSAL,
        {"buy": "1", "price": 10, "parameters": {k: v for k, v in PROPOSAL.items() if k != "proposal"}},
        {"ticks": "R_50", "subscribe": 0},
        {"ticks_history": "R_50", "end": "latest", "style": "candles", "granularity": 60, "subscribe": 1},
        {"proposal_open_contract": 1, "subscribe": 0},
        {"forget_all": "ticks"},
        {"active_symbols": "brief", "contract_type": ["CALL", "PUT"]},
        {"sell": 1, "price": 0},
        {"portfolio": 1},
        {"profit_table": 1, "description": 1, "limit": 50, "sort": "DESC"},
        {"statement": 1, "description": 1, "action_type": "buy", "limit": 50},
    ],
)
def test_new_api_schema_accepts(request_):
    assert validate(request_).ok


def test_the_fixture_fails_the_test_on_an_invalid_request():
    with pytest.raises(AssertionError, match="invalid requests sent to fake Deriv"), running_fake_deriv() as fake:
        sock = Raw(fake.ws_public_url)
        answer = sock.ask({"authorize": "a1-legacy-token", "req_id": 1})
        sock.close()
    assert answer["error"]["code"] == "UnrecognisedRequest" and answer["req_id"] == 1


def test_the_pytest_fixture_itself_fails_at_teardown():
    generator = fake_deriv_fixture.__wrapped__()
    fake = next(generator)
    sock = Raw(fake.ws_public_url)
    sock.ask({"ticks": "R_50", "bogus": 1})
    sock.close()
    with pytest.raises(AssertionError):
        next(generator)


def test_a_clean_run_passes_the_fixture():
    with running_fake_deriv() as fake:
        sock = Raw(fake.ws_public_url)
        answer = sock.ask({"ping": 1, "req_id": 3})
        assert (answer["msg_type"], answer["ping"], answer["req_id"]) == ("ping", "pong", 3)
        sock.close()


def test_garbage_is_recorded(fake_deriv, raw):
    sock = raw()
    sock.ws.send("{nope")
    assert sock.read()["error"]["code"] == "BadRequest"
    assert sock.ask({"hello": 1})["msg_type"] == "error"
    assert len(fake_deriv.take_invalid_requests()) == 2


# ---------------------------------------------------------------- message semantics


def test_req_id_and_passthrough_are_echoed_on_every_stream_update(fake_deriv, raw):
    sock = raw()
    first = sock.ask({"ticks": "R_10", "subscribe": 1, "req_id": 9, "passthrough": {"who": "me"}})
    fake_deriv.advance(2)
    update = sock.read()
    for message in (first, update):
        assert message["req_id"] == 9 and message["passthrough"] == {"who": "me"}
        assert message["subscription"]["id"] == message["tick"]["id"]


def test_forget_answers_1_only_for_a_live_id_and_nothing_follows(fake_deriv, raw):
    sock = raw()
    sub_id = sock.ask({"ticks": "R_10", "subscribe": 1})["subscription"]["id"]
    assert sock.ask({"forget": sub_id})["forget"] == 1
    assert sock.ask({"forget": sub_id})["forget"] == 0
    fake_deriv.advance(4)
    assert sock.ask({"ping": 1})["msg_type"] == "ping"  # no tick came in between


def test_forget_all_returns_the_cancelled_ids(fake_deriv, raw):
    sock = raw()
    a = sock.ask({"ticks": "R_10", "subscribe": 1})["subscription"]["id"]
    b = sock.ask({"ticks_history": "R_25", "end": "latest", "count": 1, "subscribe": 1})["subscription"]["id"]
    c = sock.ask({"ticks_history": "R_25", "end": "latest", "style": "candles", "subscribe": 1})["subscription"]["id"]
    assert sorted(sock.ask({"forget_all": "ticks"})["forget_all"]) == sorted([a, b])
    assert sock.ask({"forget_all": ["candles"]})["forget_all"] == [c]


def test_bad_granularity_is_invalid_granularity(fake_deriv, raw):
    answer = raw().ask({"ticks_history": "R_25", "end": "latest", "style": "candles", "granularity": 61})
    assert answer["error"]["code"] == "InvalidGranularity"
    assert len(fake_deriv.take_invalid_requests()) == 1


def test_active_symbols_have_new_api_fields(fake_deriv, raw):
    items = raw().ask({"active_symbols": "brief"})["active_symbols"]
    assert {i["underlying_symbol"] for i in items} == {
        *(f"R_{v}" for v in (10, 25, 50, 75, 100)),
        *(f"1HZ{v}V" for v in (10, 25, 50, 75, 100)),
    }
    assert all({"underlying_symbol_name", "pip_size", "exchange_is_open", "trade_count"} <= set(i) for i in items)


def test_proposals_stream_except_constant_price_tick_contracts(fake_deriv, raw):
    sock = raw()
    constant = sock.ask({**PROPOSAL, "subscribe": 1})
    streamed = sock.ask({**PROPOSAL, "underlying_symbol": "1HZ10V", "subscribe": 1})
    fake_deriv.advance(1)
    update = sock.read()
    assert update["subscription"]["id"] == streamed["subscription"]["id"] != constant["subscription"]["id"]
    assert "Win payout if Volatility 100 Index after 5 ticks is strictly higher" in constant["proposal"]["longcode"]


def test_a_proposal_id_is_only_good_on_its_own_socket(fake_deriv, raw):
    provider = OtpProvider(fake_deriv)
    one, two = raw(provider()), raw(provider())
    proposal = one.ask(PROPOSAL)["proposal"]
    assert two.ask({"buy": proposal["id"], "price": 10})["error"]["code"] == "InvalidContractProposal"
    moved = one.ask({"buy": proposal["id"], "price": 9})
    assert moved["error"]["code"] == "PriceMoved"


def test_a_poc_stream_twice_is_already_subscribed(fake_deriv, raw):
    sock = raw(OtpProvider(fake_deriv)())
    proposal = sock.ask(PROPOSAL)["proposal"]
    contract_id = sock.ask({"buy": proposal["id"], "price": 10})["buy"]["contract_id"]
    first = sock.ask({"proposal_open_contract": 1, "contract_id": contract_id, "subscribe": 1})
    again = sock.ask({"proposal_open_contract": 1, "contract_id": contract_id, "subscribe": 1})
    assert first["proposal_open_contract"]["contract_id"] == contract_id
    assert again["error"]["code"] == "AlreadySubscribed"


def test_a_timed_contract_exits_on_the_last_tick_at_or_before_expiry(fake_deriv, raw):
    sock = raw(OtpProvider(fake_deriv)())
    fake_deriv.inject_ticks("R_10", [10.0, 11.0] + [12.0] * 29 + [5.0])
    request = {**PROPOSAL, "underlying_symbol": "R_10", "duration": 1, "duration_unit": "m"}
    proposal = sock.ask(request)["proposal"]
    bought = sock.ask({"buy": proposal["id"], "price": 10, "subscribe": 1})
    contract_id = bought["buy"]["contract_id"]
    fake_deriv.advance(64)
    contract = fake_deriv.contract(contract_id)["proposal_open_contract"]
    # bought at …000, expiry …060: entry is the tick at …002 (10.0), exit the one at …060 (12.0)
    assert contract["entry_spot"] == 10.0 and contract["exit_spot"] == 12.0
    assert contract["exit_spot_time"] == 1700000060 and contract["status"] == "won"


def test_a_sold_contract_is_in_the_profit_table_and_its_buy_and_sell_in_the_statement(fake_deriv, raw):
    sock = raw(OtpProvider(fake_deriv)())
    proposal = sock.ask({**PROPOSAL, "underlying_symbol": "R_10"})["proposal"]
    contract_id = sock.ask({"buy": proposal["id"], "price": 10})["buy"]["contract_id"]
    assert sock.ask({"profit_table": 1, "limit": 5})["profit_table"]["transactions"] == []
    fake_deriv.advance(14)
    (sold,) = sock.ask({"profit_table": 1, "description": 1, "limit": 5, "sort": "DESC"})["profit_table"][
        "transactions"
    ]
    assert sold["contract_id"] == contract_id and sold["buy_price"] == 10
    assert sold["sell_price"] == fake_deriv.contract(contract_id)["proposal_open_contract"]["sell_price"]
    rows = sock.ask({"statement": 1, "limit": 10})["statement"]["transactions"]
    assert [(r["action_type"], r["contract_id"]) for r in rows] == [("sell", contract_id), ("buy", contract_id)]
    assert rows[1]["amount"] == -10


def test_a_buy_failed_after_the_fact_is_bought_and_answered_with_the_error(fake_deriv, raw):
    sock = raw(OtpProvider(fake_deriv)())
    proposal = sock.ask(PROPOSAL)["proposal"]
    fake_deriv.fail_next("buy", None, "Something went wrong", processed=True)
    answer = sock.ask({"buy": proposal["id"], "price": 10})
    assert answer["error"] == {"message": "Something went wrong"} and len(fake_deriv.open_contracts()) == 1


def test_the_default_walk_repeats_quotes_now_and_then(fake_deriv):
    series = fake_deriv.series["R_100"]
    quotes = [t.quote for t in series.ticks]
    assert any(a == b for a, b in zip(quotes, quotes[1:], strict=False))


def test_same_seed_same_ticks():
    one = FakeDeriv(seed=7)
    two = FakeDeriv(seed=7)
    assert [t.quote for t in one.series["R_50"].ticks] == [t.quote for t in two.series["R_50"].ticks]


def test_the_clock_freezes_and_advances():
    clock = FakeClock(100, frozen=True)
    clock.advance(5)
    assert clock.now() == 105
    clock.unfreeze()
    assert clock.now() >= 105
    clock.freeze()
    frozen_at = clock.now()
    assert clock.now() == frozen_at


def test_time_is_the_fake_clock(fake_deriv, raw):
    sock = raw()
    assert sock.ask({"time": 1})["time"] == 1700000000
    fake_deriv.advance(30)
    assert sock.ask({"time": 1})["time"] == 1700000030


def test_a_missing_otp_is_400_at_the_upgrade(fake_deriv):
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(fake_deriv.ws_base + "demo", timeout=3)
    assert caught.value.status_code == 400


def test_standalone_entry_point_parses_its_options():
    from tests.fakes.deriv.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
