"""Spot exchange objects for tests outside tests/exchanges (the site-wide security tests) and within it."""

from decimal import Decimal

from apps.common import crypto
from apps.exchanges.models import Exchange, ExchangeConnection, SpotBot, SpotMarket
from apps.exchanges.services.bots import spot_bot_create


def spot_market(symbol: str = "BTC/USDT", price: str = "50000") -> SpotMarket:
    base, quote = symbol.split("/")
    return SpotMarket.objects.get_or_create(
        exchange=Exchange.BINANCE,
        symbol=symbol,
        defaults={
            "base": base,
            "quote": quote,
            "amount_step": Decimal("0.00001"),
            "price_step": Decimal("0.01"),
            "min_amount": Decimal("0.00001"),
            "min_notional": Decimal("5"),
            "last_price": Decimal(price),
        },
    )[0]


def keyed_connection(user, *, label: str = "My Binance", key: str = "test-key-0001") -> ExchangeConnection:
    """A real (keyed) connection as `connection_connect` stores one, without asking an exchange."""
    return ExchangeConnection.objects.create(
        user=user,
        exchange=Exchange.BINANCE,
        label=label,
        api_key_encrypted=crypto.encrypt(key),
        secret_encrypted=crypto.encrypt("test-secret"),
        key_last4=key[-4:],
    )


def spot_bot_make(user, connection, market, **settings) -> SpotBot:
    """A stopped spot bot with three trend followers that buy on a steady climb."""
    defaults = {
        "name": "BTC climber",
        "timeframe": "1m",
        "strategies": {"momentum": {}, "breakout": {}, "scalping": {}},
        "min_agreeing": 1,
        "min_confidence": Decimal("0.10"),
        "blocked_regimes": [],
        "position_pct": Decimal("5"),
        "max_open_positions": 1,
        "stop_loss_pct": Decimal("2"),
        "take_profit_pct": Decimal("4"),
        "pyramiding": False,
        "max_adds": 2,
        "add_spacing_pct": Decimal("1"),
    }
    return spot_bot_create(user=user, connection=connection, market=market, settings=defaults | settings)
