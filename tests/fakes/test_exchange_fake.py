"""The fake Binance spot API, driven through an unmodified ccxt.binance: markets, candles, balances, orders,
Binance's errors and the exceptions ccxt makes of them, and the faults a test can switch on."""

import time
from decimal import Decimal

import ccxt
import pytest

from tests.fakes.exchange import FakeExchange, ccxt_config
from tests.fakes.exchange.fixtures import fake_exchange_fixture, running_fake_exchange  # noqa: F401

KEY, SECRET = "nexusTestKey" + "a" * 52, "nexusTestSecret" + "b" * 49
SYMBOLS = {"BTC", "ETH", "SOL", "XRP", "LTC", "ADA", "DOGE", "BNB", "DOT", "LINK"}


def client(fake: FakeExchange, key: str | None = KEY, secret: str | None = SECRET, **settings) -> ccxt.binance:
    config = ccxt_config(fake.url, key, secret)
    config["options"] |= settings.pop("options", {})
    return ccxt.binance(config | settings)


@pytest.fixture
def exchange(fake_exchange):
    fake_exchange.add_key(KEY, SECRET, balances={"USDT": "10000", "BTC": "0"})
    return client(fake_exchange)


def away_from_a_minute_boundary():
    """Weights count per wall-clock minute: keep a test that counts them inside one minute."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


# --- markets and prices -------------------------------------------------------------------------------


def test_load_markets_asks_exchange_info_once_and_gives_the_ten_spot_markets(fake_exchange):
    markets = client(fake_exchange, None, None).load_markets()
    assert set(markets) == {f"{base}/USDT" for base in SYMBOLS}
    assert [c.path for c in fake_exchange.calls] == ["/api/v3/exchangeInfo"]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["spot"], btc["type"], btc["active"]) == ("BTCUSDT", True, "spot", True)
    assert btc["precision"] == {"amount": 0.00001, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert btc["limits"]["amount"] == {"min": 0.00001, "max": 9000.0}
    assert btc["limits"]["cost"]["min"] == 5.0
    assert markets["DOGE/USDT"]["precision"]["amount"] == 1.0
    assert markets["XRP/USDT"]["precision"]["price"] == 0.0001
    assert all(m["limits"]["cost"]["min"] == 5.0 for m in markets.values())


def test_candles_are_minute_aligned_consistent_and_follow_the_clock(fake_exchange):
    exchange = client(fake_exchange, None, None)
    minute = fake_exchange.clock_ms // 60_000 * 60_000
    candles = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=10)
    assert [c[0] for c in candles] == [minute - 60_000 * i for i in range(9, -1, -1)]
    assert all(low <= min(o, c) <= max(o, c) <= high for _, o, high, low, c, _ in candles)
    assert all(candles[i][1] == candles[i - 1][4] for i in range(1, 10))
    assert exchange.fetch_ticker("BTC/USDT")["last"] == candles[-1][4] == float(fake_exchange.price("BTC/USDT"))

    since = minute - 30 * 60_000
    assert [c[0] for c in exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=3)] == [
        since,
        since + 60_000,
        since + 120_000,
    ]
    fake_exchange.advance(120)
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", limit=1)[0][0] == minute + 120_000


def test_five_minute_candles_are_made_of_the_one_minute_ones(fake_exchange):
    exchange = client(fake_exchange, None, None)
    fake_exchange.advance(600)
    open_time, o, high, low, close, volume = exchange.fetch_ohlcv("ETH/USDT", "5m", limit=2)[0]
    assert open_time % 300_000 == 0
    minutes = exchange.fetch_ohlcv("ETH/USDT", "1m", since=open_time, limit=5)
    assert o == minutes[0][1] and close == minutes[-1][4]
    assert high == max(m[2] for m in minutes) and low == min(m[3] for m in minutes)
    assert volume == pytest.approx(sum(m[5] for m in minutes))


def test_the_seed_decides_the_prices():
    def candles(seed):
        with running_fake_exchange(seed=seed) as fake:
            return client(fake, None, None).fetch_ohlcv("SOL/USDT", "1m", limit=50)

    assert candles(7) == candles(7)
    assert candles(7) != candles(8)


def test_recorded_candles_replace_the_walk_and_set_the_fill_price(fake_exchange, exchange):
    minute = fake_exchange.clock_ms // 60_000 * 60_000
    fake_exchange.set_candles(
        "BTC/USDT", "1m", [[minute - 60_000, 69000, 70000, 68900, 69950, 3], [minute, 69950, 70100, 69900, 70050, 2]]
    )
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", limit=2) == [
        [minute - 60_000, 69000.0, 70000.0, 68900.0, 69950.0, 3.0],
        [minute, 69950.0, 70100.0, 69900.0, 70050.0, 2.0],
    ]
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert order["average"] == 70050.0


# --- account --------------------------------------------------------------------------------------------


def test_balance_and_key_permissions(fake_exchange, exchange):
    balance = exchange.fetch_balance()
    assert balance["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["info"]["balances"][0] == {"asset": "BTC", "free": "0.00000000", "locked": "0.00000000"}
    restrictions = exchange.sapi_get_account_apirestrictions()
    assert restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["enableWithdrawals"] is False
    assert restrictions["enableReading"] is True
    assert {"ipRestrict", "createTime", "enableInternalTransfer", "enableMargin", "enableFutures"} <= set(restrictions)
    assert {"permitsUniversalTransfer", "enableVanillaOptions"} <= set(restrictions)
    fake_exchange.add_key("withdrawer", "w", can_trade=False, can_withdraw=True)
    other = client(fake_exchange, "withdrawer", "w").sapi_get_account_apirestrictions()
    assert (other["enableSpotAndMarginTrading"], other["enableWithdrawals"]) == (False, True)


def test_signed_calls_are_logged_without_their_signature(fake_exchange, exchange):
    exchange.fetch_balance()
    assert fake_exchange.call_count("/api/v3/account") == 1
    params = fake_exchange.calls[-1].params
    assert "signature" not in params and {"timestamp", "recvWindow"} <= set(params)


# --- orders ---------------------------------------------------------------------------------------------


def test_a_market_buy_fills_at_the_last_price_with_the_fee_in_the_asset_bought(fake_exchange, exchange):
    price = float(fake_exchange.price("BTC/USDT"))
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "nexus-1"})
    assert (order["status"], order["clientOrderId"], order["filled"], order["average"]) == (
        "closed",
        "nexus-1",
        0.01,
        price,
    )
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    assert order["info"]["fills"][0]["commission"] == "0.00001000"
    assert order["info"]["executedQty"] == "0.01000000"
    balances = fake_exchange.balances_of(KEY)
    assert balances["USDT"] == (Decimal(10000) - Decimal("0.01") * Decimal(str(price)), 0)
    assert balances["BTC"] == (Decimal("0.00999"), 0)
    assert exchange.fetch_balance()["BTC"]["free"] == 0.00999

    assert exchange.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    trades = exchange.fetch_my_trades("BTC/USDT", since=fake_exchange.clock_ms - 60_000)
    assert [(t["order"], t["side"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (order["id"], "buy", 0.01, "taker")
    ]


def test_a_market_sell_pays_the_fee_in_the_quote(fake_exchange, exchange):
    fake_exchange.set_balance(KEY, "BTC", "0.1")
    order = exchange.create_order("BTC/USDT", "market", "sell", 0.01)
    cost = Decimal("0.01") * fake_exchange.price("BTC/USDT")
    assert order["fee"] == {"currency": "USDT", "cost": float(cost / 1000)}
    assert fake_exchange.balances_of(KEY)["USDT"][0] == 10000 + cost - cost / 1000
    assert fake_exchange.balances_of(KEY)["BTC"][0] == Decimal("0.09")


def test_a_limit_order_rests_locking_funds_then_fills_when_a_candle_reaches_it(fake_exchange, exchange):
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 64000)
    assert order["status"] == "open" and order["filled"] == 0
    assert fake_exchange.balances_of(KEY)["USDT"] == (Decimal(9360), Decimal(640))
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    next_minute = fake_exchange.clock_ms // 60_000 * 60_000 + 60_000
    fake_exchange.set_candles("BTCUSDT", "1m", [[next_minute, 64100, 64150, 63990, 64050, 5]])
    fake_exchange.advance(60)
    filled = exchange.fetch_order(order["id"], "BTC/USDT")
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.01, 64000.0)
    assert fake_exchange.balances_of(KEY)["USDT"] == (Decimal(9360), Decimal(0))
    assert exchange.fetch_my_trades("BTC/USDT")[-1]["takerOrMaker"] == "maker"


def test_a_crossing_post_only_order_is_refused(exchange):
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 66000, params={"postOnly": True})


def test_cancel_gives_the_funds_back_and_unknown_orders_are_not_found(fake_exchange, exchange):
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 60000)
    assert exchange.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert fake_exchange.balances_of(KEY)["USDT"] == (Decimal(10000), Decimal(0))
    assert exchange.fetch_open_orders("BTC/USDT") == []
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        exchange.cancel_order(order["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        exchange.fetch_order("123", "BTC/USDT")


def test_partial_fill_of_a_market_order_expires_the_rest(fake_exchange, exchange):
    fake_exchange.partial_fill_next(0.5)
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert (order["status"], order["amount"], order["filled"]) == ("expired", 0.01, 0.005)
    assert order["info"]["status"] == "EXPIRED"
    assert fake_exchange.balances_of(KEY)["USDT"] == (Decimal(10000) - Decimal("0.005") * 65000, 0)
    assert fake_exchange.balances_of(KEY)["BTC"] == (Decimal("0.004995"), 0)


def test_partial_fill_of_a_limit_order_leaves_it_open(fake_exchange, exchange):
    fake_exchange.partial_fill_next(0.5)
    order = exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 64000)
    assert (order["status"], order["filled"], order["info"]["status"]) == ("open", 0.005, "PARTIALLY_FILLED")
    assert fake_exchange.balances_of(KEY)["USDT"] == (Decimal(9360), Decimal(320))
    exchange.cancel_order(order["id"], "BTC/USDT")
    assert fake_exchange.balances_of(KEY)["USDT"] == (Decimal(9680), Decimal(0))


# --- Binance's refusals and what ccxt raises for them ---------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "raised", "message"),
    [
        (1, ccxt.InsufficientFunds, "Account has insufficient balance for requested action."),
        (0.00005, ccxt.BadRequest, "Filter failure: NOTIONAL"),  # -1013: ccxt says BadRequest, not InvalidOrder
        (9001, ccxt.InvalidOrder, "Filter failure: LOT_SIZE"),
    ],
)
def test_order_refusals(fake_exchange, exchange, amount, raised, message):
    with pytest.raises(raised, match=message):
        exchange.create_order("BTC/USDT", "market", "buy", amount)
    assert fake_exchange.orders_for(KEY) == []


def test_a_quantity_off_the_step_fails_lot_size(exchange):
    request = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000015"}
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        exchange.private_post_order(request)


def test_unknown_symbols_are_bad_symbols(exchange):
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        exchange.public_get_ticker_24hr({"symbol": "FOOUSDT"})
    with pytest.raises(ccxt.BadSymbol, match="Invalid symbol."):
        exchange.private_post_order({"symbol": "FOOUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})


def test_a_client_order_id_in_use_is_a_duplicate_until_that_order_filled(fake_exchange, exchange):
    exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 60000, params={"newClientOrderId": "resting"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent."):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "resting"})
    fake_exchange.partial_fill_next(0.5)
    exchange.create_order("ETH/USDT", "market", "buy", 0.1, params={"newClientOrderId": "expired"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent."):
        exchange.create_order("ETH/USDT", "market", "buy", 0.1, params={"newClientOrderId": "expired"})
    # As on Binance, the id of a FILLED order is accepted again: it is no idempotency key.
    first = exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "filled"})
    second = exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "filled"})
    assert first["id"] != second["id"]
    assert exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "filled"})["id"] == second["id"]


def test_reject_next_answers_an_error_without_placing_the_order(fake_exchange, exchange):
    fake_exchange.reject_next(-2010, "Account has insufficient balance for requested action.", path="/api/v3/order")
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01)
    assert fake_exchange.orders_for(KEY) == []
    assert exchange.create_order("BTC/USDT", "market", "buy", 0.01)["status"] == "closed"


# --- authentication -------------------------------------------------------------------------------------


def test_a_wrong_secret_is_a_bad_signature(fake_exchange, exchange):
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client(fake_exchange, KEY, "not-the-secret").fetch_balance()


def test_an_unknown_key_is_refused(fake_exchange, exchange):
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client(fake_exchange, "unknown", SECRET).fetch_balance()


def test_a_timestamp_outside_the_recv_window_is_an_invalid_nonce(fake_exchange, exchange):
    behind = client(fake_exchange, options={"timeDifference": 20_000})  # timestamps 20 s old, recvWindow 10 s
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        behind.fetch_balance()
    ahead = client(fake_exchange, options={"timeDifference": -5_000})
    with pytest.raises(ccxt.InvalidNonce, match="ahead of the server's time"):
        ahead.fetch_balance()


def test_a_key_without_trading_may_read_but_not_order(fake_exchange):
    fake_exchange.add_key("reader", "r", balances={"USDT": "100"}, can_trade=False)
    fresh = client(fake_exchange, "reader", "r")
    with pytest.raises(ccxt.AuthenticationError, match="-2015") as refused:
        fresh.create_order("BTC/USDT", "market", "buy", 0.001)
    assert not isinstance(refused.value, ccxt.PermissionDenied)
    # Once a private call succeeded, ccxt reports the same -2015 as DDoSProtection (a NetworkError).
    reader = client(fake_exchange, "reader", "r")
    assert reader.fetch_balance()["USDT"]["free"] == 100
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        reader.create_order("BTC/USDT", "market", "buy", 0.001)
    assert fake_exchange.orders_for("reader") == []


# --- transport faults -----------------------------------------------------------------------------------


def test_a_dropped_answer_is_a_network_error_but_the_order_is_there(fake_exchange, exchange):
    fake_exchange.drop_next_order_answer()
    with pytest.raises(ccxt.NetworkError):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "nexus-lost"})
    found = exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "nexus-lost"})
    assert (found["status"], found["filled"], found["clientOrderId"]) == ("closed", 0.01, "nexus-lost")
    assert fake_exchange.balances_of(KEY)["BTC"][0] == Decimal("0.00999")


def test_weight_is_counted_and_over_the_limit_is_a_429():
    away_from_a_minute_boundary()
    with running_fake_exchange(weight_limit=50) as fake:
        exchange = client(fake, None, None)
        exchange.load_markets()
        assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "20"
        exchange.fetch_ticker("BTC/USDT")
        exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        assert fake.used_weight() == 24
        exchange.public_get_exchangeinfo()
        with pytest.raises(ccxt.DDoSProtection, match="-1003"):  # ccxt raises DDoSProtection for any 429
            exchange.public_get_exchangeinfo()
        assert "Too much request weight used; current limit is 50" in exchange.last_http_response
        assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "64"


def test_rate_limit_next(fake_exchange, exchange):
    fake_exchange.rate_limit_next(1)
    with pytest.raises(ccxt.DDoSProtection):
        exchange.fetch_ticker("BTC/USDT")
    assert exchange.fetch_ticker("BTC/USDT")["last"] == 65000.0


def test_an_unreachable_exchange(fake_exchange, exchange):
    fake_exchange.unreachable(True)
    with pytest.raises(ccxt.NetworkError):
        exchange.fetch_ticker("BTC/USDT")
    fake_exchange.unreachable(True, status=503)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ticker("BTC/USDT")
    fake_exchange.unreachable(False)
    assert exchange.fetch_ticker("BTC/USDT")["last"] == 65000.0


def test_a_slow_answer_times_out(fake_exchange):
    fake_exchange.add_key(KEY, SECRET, balances={"USDT": "10000"})
    exchange = client(fake_exchange, timeout=300)
    exchange.load_markets()
    fake_exchange.delay(0.6)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "market", "buy", 0.01, params={"newClientOrderId": "slow"})
    fake_exchange.delay(0)
    assert exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "slow"})["status"] == "closed"
