"""The demo markets every installation starts with."""

from decimal import Decimal

from .models import Market, Source, TieRule, VolatilityMode

DEMO_MARKETS = [
    ("OTC_EUR_USD", "EUR/USD OTC", "1.0850", 5, VolatilityMode.LOW),
    ("OTC_GBP_USD", "GBP/USD OTC", "1.2650", 5, VolatilityMode.LOW),
    ("OTC_USD_JPY", "USD/JPY OTC", "149.50", 3, VolatilityMode.LOW),
    ("OTC_GOLD", "Gold OTC", "2050.00", 2, VolatilityMode.MEDIUM),
    ("VOL_10", "Volatility 10 Index", "100.00", 3, VolatilityMode.LOW),
    ("VOL_25", "Volatility 25 Index", "100.00", 3, VolatilityMode.MEDIUM),
    ("VOL_50", "Volatility 50 Index", "100.00", 3, VolatilityMode.HIGH),
    ("VOL_100", "Volatility 100 Index", "100.00", 3, VolatilityMode.SPIKE),
]


def seed_markets() -> list[Market]:
    """Create the demo markets that are missing; never touches edited ones."""
    markets = []
    for index, (symbol, name, price, decimals, mode) in enumerate(DEMO_MARKETS, start=1):
        market, _ = Market.objects.get_or_create(
            symbol=symbol,
            defaults={
                "name": name,
                "source": Source.OTC,
                "base_price": Decimal(price),
                "decimals": decimals,
                "volatility_mode": mode,
                "seed": index,
                "tie_rule": TieRule.REFUND,
            },
        )
        markets.append(market)
    return markets
