"""Market settings an admin edits, and how prices are shown."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.markets.models import Market

NO_DB = {"validate_unique": False, "validate_constraints": False}


def market(**fields):
    values = {"symbol": "OTC_TEST", "name": "Test", "base_price": Decimal("1.2345"), "decimals": 4, **fields}
    return Market(**values)


def test_a_maximum_stake_below_the_minimum_is_invalid():
    with pytest.raises(ValidationError) as caught:
        market(min_stake=Decimal("10.00"), max_stake=Decimal("5.00")).full_clean(**NO_DB)

    assert "max_stake" in caught.value.message_dict


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_stake", Decimal("0.34")),
        ("trend_bias", Decimal("1.01")),
        ("trend_bias", Decimal("-1.01")),
        ("payout_percent", Decimal("0.99")),
        ("payout_percent", Decimal("100.01")),
        ("tick_interval_ms", 99),
        ("tick_interval_ms", 60_001),
        ("decimals", 7),
    ],
)
def test_out_of_range_settings_are_invalid(field, value):
    with pytest.raises(ValidationError) as caught:
        market(**{field: value}).full_clean(**NO_DB)

    assert field in caught.value.message_dict


def test_sensible_settings_are_valid():
    market(min_stake=Decimal("1.00"), max_stake=Decimal("1.00"), trend_bias=Decimal("-1")).full_clean(**NO_DB)


def test_a_price_is_shown_with_the_markets_decimals():
    assert market(decimals=3).format_price(Decimal("149.5")) == "149.500"
    assert market(decimals=0).format_price(Decimal("2050.49")) == "2050"
    assert market().format_price(None) == "—"


def test_new_markets_default_to_a_fair_walk_refunding_ties_and_paying_eighty_percent():
    m = market()

    assert (m.trend_bias, m.tie_rule, m.payout_percent, m.min_stake) == (
        Decimal("0.00"),
        "REFUND",
        Decimal("80.00"),
        Decimal("0.35"),
    )
