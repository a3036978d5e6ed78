import logging
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from apps.exchanges.models import ConnectionStatus, ExchangeConnection, SpotMarket
from apps.exchanges.services.connections import asset_account, balances_sync, connection_connect, connection_remove
from apps.exchanges.services.feed import markets_load
from apps.ledger.models import LedgerAccount

from .conftest import KEY, SECRET


def connect(user, **overrides):
    values = {"user": user, "exchange": "binance", "label": "Main", "api_key": KEY, "secret": SECRET}
    return connection_connect(**(values | overrides))


def test_a_trading_key_is_stored_encrypted_and_its_balances_mirrored(user, binance):
    binance.add_key(KEY, SECRET, balances={"USDT": "1000", "BTC": "0.5"})

    connection = connect(user)

    assert connection.key_last4 == "WXYZ"
    assert KEY not in connection.api_key_encrypted and SECRET not in connection.secret_encrypted
    assert connection.credentials == {"apiKey": KEY, "secret": SECRET}
    assert asset_account(connection, "USDT").balance == Decimal("1000.00")
    assert asset_account(connection, "BTC").balance == Decimal("0.5")
    assert KEY not in repr(connection) and KEY not in str(connection)


@pytest.mark.parametrize(
    ("permissions", "field", "message"),
    [
        ({"can_trade": False}, "api_key", "cannot trade"),
        ({"can_withdraw": True}, "api_key", "can withdraw"),
        ({"can_read": False}, "secret", "refused this key"),
    ],
    ids=["no-trade", "withdraw", "no-read"],
)
def test_a_key_with_the_wrong_permissions_is_refused_and_nothing_is_saved(user, binance, permissions, field, message):
    binance.add_key(KEY, SECRET, balances={"USDT": "1000"}, **permissions)

    with pytest.raises(ValidationError) as refused:
        connect(user)

    assert message in " ".join(refused.value.message_dict[field])
    assert not ExchangeConnection.objects.filter(paper=False).exists()
    assert not LedgerAccount.objects.filter(code__startswith="exchange:").exists()


def test_a_wrong_secret_is_refused_next_to_the_secret(user, binance):
    binance.add_key(KEY, SECRET, balances={"USDT": "1000"})

    with pytest.raises(ValidationError) as refused:
        connect(user, secret="x" * 64)

    assert "refused this key and secret" in refused.value.message_dict["secret"][0]
    assert not ExchangeConnection.objects.exists()


def test_an_unreachable_exchange_saves_nothing(user, binance):
    binance.add_key(KEY, SECRET)
    binance.unreachable(True)

    with pytest.raises(ValidationError, match="did not answer"):
        connect(user)

    assert not ExchangeConnection.objects.exists()


def test_a_pair_the_exchange_does_not_list_is_not_offered(binance, settings, caplog):
    settings.EXCHANGE_PAIRS = ["BTC/USDT", "NEX/USDT"]

    with caplog.at_level(logging.WARNING):
        markets_load()

    assert not SpotMarket.objects.filter(symbol="NEX/USDT").exists()
    assert "does not list NEX/USDT" in caplog.text
    btc = SpotMarket.objects.get(symbol="BTC/USDT")
    assert btc.min_notional == Decimal("5") and btc.amount_step > 0


def test_removing_a_connection_deletes_its_secrets_and_takes_its_balances_out_of_the_books(user, live):
    connection_remove(user=user, connection_id=live.pk)

    live.refresh_from_db()
    assert (live.api_key_encrypted, live.secret_encrypted, live.removed_at is not None) == ("", "", True)
    assert asset_account(live, "USDT").balance == 0


def test_another_traders_connection_cannot_be_removed(other_user, live):
    with pytest.raises(ExchangeConnection.DoesNotExist):
        connection_remove(user=other_user, connection_id=live.pk)


def test_a_deposit_at_the_exchange_reaches_the_books_on_sync(live, binance):
    binance.set_balance(KEY, "USDT", "1500")

    balances_sync(connection=live)

    assert asset_account(live, "USDT").balance == Decimal("1500.00")


def test_the_key_ring_rotation_re_encrypts_exchange_keys(settings, live):
    old = live.secret_encrypted
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": ["7" * 43 + "=", *(settings.DERIV.get("FERNET_KEYS") or [])]}
    from apps.common.crypto import development_key

    settings.DERIV["FERNET_KEYS"] = [
        "kH2gJ1Vx6g3hS0b6y0T7c3f3ZJ5QqfG7m1t0o1n2p3E=",
        development_key(settings.SECRET_KEY).decode(),
    ]

    call_command("rotate_deriv_keys", stdout=__import__("io").StringIO())

    live.refresh_from_db()
    assert live.secret_encrypted != old
    assert live.credentials["secret"] == SECRET


def test_no_secret_reaches_the_logs(user, binance, caplog):
    binance.add_key(KEY, SECRET, balances={"USDT": "1000"})
    with caplog.at_level(logging.DEBUG):
        connection = connect(user)
        binance.unreachable(True)
        balances = ExchangeConnection.objects.get(pk=connection.pk)
        with pytest.raises(Exception):  # noqa: B017 - any fault: only the logs matter here
            balances_sync(connection=balances)

    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert KEY not in text and SECRET not in text
    assert connection.status == ConnectionStatus.ACTIVE
