from decimal import Decimal

import pytest

from apps.deriv import adapter
from apps.deriv.errors import InsufficientBalance, WrongResponse

SETTLED_POC = {
    "msg_type": "proposal_open_contract",
    "subscription": {"id": "796a6ab6-2135-419f-b5b1-d3ee4ee318aa"},
    "proposal_open_contract": {
        "contract_id": 244821136548,
        "contract_type": "CALL",
        "currency": "USD",
        "underlying_symbol": "R_100",
        "buy_price": "10.00",
        "payout": "19.50",
        "bid_price": 19.5,
        "profit": "9.50",
        "sell_price": "19.50",
        "entry_spot": "835.46",
        "entry_spot_time": 1700000006,
        "exit_spot": 836.1,
        "exit_spot_time": 1700000012,
        "current_spot": "836.10",
        "current_spot_time": 1700000012,
        "is_expired": 1,
        "is_sold": 1,
        "is_valid_to_sell": 0,
        "status": "won",
        "tick_count": 3,
        "date_start": 1700000004,
        "sell_time": 1700000012,
        "transaction_ids": {"buy": 488866554321, "sell": 488866554322},
    },
}


def test_a_settled_contract_reads_as_won_with_decimal_money_from_strings_and_numbers():
    poc = adapter.parse_open_contract(SETTLED_POC)
    assert poc.is_settled and poc.won
    assert poc.buy_price == Decimal("10.00")
    assert poc.bid_price == Decimal("19.5")
    assert poc.profit == Decimal("9.50")
    assert poc.sell_price == Decimal("19.50")
    assert poc.exit_spot == Decimal("836.1")  # a float keeps its printed digits, not 836.1000000000000227…
    assert poc.entry_spot == Decimal("835.46")
    assert poc.symbol == "R_100"
    assert poc.sell_transaction_id == 488866554322
    assert poc.subscription_id == "796a6ab6-2135-419f-b5b1-d3ee4ee318aa"


def test_an_open_contract_is_not_settled():
    body = dict(SETTLED_POC["proposal_open_contract"], is_sold=0, is_expired=0, status="open")
    del body["exit_spot"], body["sell_price"]
    poc = adapter.parse_open_contract({"proposal_open_contract": body})
    assert not poc.is_settled and not poc.won
    assert poc.exit_spot is None and poc.sell_price is None


def test_a_lost_contract_has_zero_sell_price():
    body = dict(SETTLED_POC["proposal_open_contract"], status="lost", sell_price=0, profit="-10.00")
    poc = adapter.parse_open_contract({"proposal_open_contract": body})
    assert poc.is_settled and not poc.won
    assert poc.sell_price == 0 and poc.profit == Decimal("-10.00")


def test_legacy_field_names_still_parse():
    body = dict(SETTLED_POC["proposal_open_contract"])
    body["underlying"] = body.pop("underlying_symbol")
    body["exit_tick"] = body.pop("exit_spot")
    body["exit_tick_time"] = body.pop("exit_spot_time")
    poc = adapter.parse_open_contract({"proposal_open_contract": body})
    assert poc.symbol == "R_100" and poc.exit_spot == Decimal("836.1") and poc.exit_spot_time == 1700000012


def test_no_open_contracts_is_none():
    assert adapter.parse_open_contract({"proposal_open_contract": {}}) is None


def test_an_error_envelope_raises_the_typed_error():
    message = {"msg_type": "buy", "error": {"code": "InsufficientBalance", "message": "Your balance is low."}}
    with pytest.raises(InsufficientBalance) as caught:
        adapter.parse_buy(message)
    assert caught.value.code == "InsufficientBalance"


def test_proposal_with_string_prices_and_limits():
    proposal = adapter.parse_proposal(
        {
            "msg_type": "proposal",
            "proposal": {
                "id": "a4a4a2a6-5a9c-f628-6409-5f9fd4aa620e",
                "ask_price": "10.00",
                "payout": 19.54,
                "spot": 842.28,
                "spot_time": 1700000000,
                "date_start": 1700000001,
                "longcode": "Win payout if …",
                "validation_params": {"payout": {"max": "50000.00"}, "stake": {"min": "0.35"}},
            },
        }
    )
    assert proposal.ask_price == Decimal("10.00") and proposal.payout == Decimal("19.54")
    assert proposal.min_stake == Decimal("0.35") and proposal.max_payout == Decimal("50000.00")


def test_buy_tick_and_balance():
    purchase = adapter.parse_buy(
        {
            "buy": {
                "balance_after": 9990,
                "buy_price": 10,
                "contract_id": 244821136548,
                "longcode": "x",
                "payout": 19.54,
                "purchase_time": 1700000001,
                "shortcode": "CALL_R_100_19.54_1700000001_5T_S0P_0",
                "start_time": 1700000001,
                "transaction_id": 488866554321,
            },
            "subscription": {"id": "s" * 32},
        }
    )
    assert purchase.balance_after == Decimal("9990") and purchase.subscription_id == "s" * 32
    tick = adapter.parse_tick({"tick": {"epoch": 1672127936, "quote": 1234.56, "symbol": "R_100", "pip_size": 2}})
    assert tick.quote == Decimal("1234.56") and tick.epoch == 1672127936 and tick.pip_size == 2
    balance = adapter.parse_balance({"balance": {"balance": "9990.5", "currency": "USD", "loginid": "DOT90004580"}})
    assert balance.balance == Decimal("9990.5") and balance.account_id == "DOT90004580"


def test_history():
    history = adapter.parse_history(
        {"history": {"prices": [236.0711, 236.0722], "times": [1700000000, 1700000002]}, "pip_size": 4}, "R_50"
    )
    assert [t.quote for t in history.ticks] == [Decimal("236.0711"), Decimal("236.0722")]


def test_active_symbols_pip_is_a_step_not_a_count():
    symbols = adapter.parse_active_symbols(
        {
            "active_symbols": [
                {
                    "underlying_symbol": "R_50",
                    "underlying_symbol_name": "Volatility 50 Index",
                    "market": "synthetic_index",
                    "submarket": "random_index",
                    "pip_size": 0.0001,
                    "exchange_is_open": 1,
                    "is_trading_suspended": 0,
                }
            ]
        }
    )
    assert symbols[0].symbol == "R_50" and symbols[0].decimals == 4 and symbols[0].exchange_is_open


def test_rest_accounts_and_otp():
    accounts = adapter.parse_accounts(
        {
            "data": [
                {
                    "account_id": "DOT90004580",
                    "balance": 10000,
                    "currency": "USD",
                    "group": "row",
                    "status": "active",
                    "account_type": "demo",
                }
            ],
            "meta": {},
        }
    )
    assert accounts[0].is_demo and accounts[0].is_active and accounts[0].balance == Decimal("10000")
    url = adapter.parse_otp({"data": {"url": "wss://api.derivws.com/trading/v1/options/ws/demo?otp=x"}})
    assert url.startswith("wss://")
    with pytest.raises(WrongResponse):
        adapter.parse_otp({"data": {}})


def test_garbage_numbers_are_a_wrong_response():
    with pytest.raises(WrongResponse):
        adapter.decimal("NaN")
    with pytest.raises(WrongResponse):
        adapter.decimal("ten")
    assert adapter.decimal(True) is None


def test_requests_use_new_api_names_and_json_numbers():
    request = adapter.proposal_request(
        symbol="R_100", direction="RISE", stake=Decimal("10.50"), duration=5, duration_unit="t", currency="USD"
    )
    assert request == {
        "proposal": 1,
        "amount": 10.5,
        "basis": "stake",
        "contract_type": "CALL",
        "currency": "USD",
        "duration": 5,
        "duration_unit": "t",
        "underlying_symbol": "R_100",
    }
    assert (
        adapter.proposal_request(
            symbol="R_100", direction="fall", stake=Decimal("10"), duration=1, duration_unit="m", currency="USD"
        )["contract_type"]
        == "PUT"
    )
    assert adapter.buy_request("p" * 36, Decimal("10.00")) == {"buy": "p" * 36, "price": 10, "subscribe": 1}
    assert adapter.open_contract_request(5) == {"proposal_open_contract": 1, "contract_id": 5, "subscribe": 1}
    assert adapter.ticks_request("R_10") == {"ticks": "R_10", "subscribe": 1}
    assert adapter.forget_request("x" * 36) == {"forget": "x" * 36}
    assert adapter.forget_all_request("ticks", "candles") == {"forget_all": ["ticks", "candles"]}
    with pytest.raises(ValueError):
        adapter.contract_type("SIDEWAYS")
