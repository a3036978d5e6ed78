"""Deriv's active symbols synced into the markets table."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.deriv import adapter
from apps.deriv.errors import InternalError
from apps.deriv.markets import DERIV_SYMBOLS, deriv_markets_apply, deriv_markets_sync
from apps.markets.models import Market, Source, TieRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def deriv_settings(settings, fake_deriv):
    settings.DERIV = {**settings.DERIV, "WS_PUBLIC": fake_deriv.ws_public_url}
    return settings


def symbols(*items):
    """An active_symbols answer as the New API sends it."""
    return adapter.parse_active_symbols(
        {
            "msg_type": "active_symbols",
            "active_symbols": [
                {
                    "underlying_symbol": symbol,
                    "underlying_symbol_name": name,
                    "underlying_symbol_type": "stockindex",
                    "market": "synthetic_index",
                    "submarket": "random_index",
                    "subgroup": "synthetics",
                    "pip_size": pip,
                    "exchange_is_open": is_open,
                    "is_trading_suspended": suspended,
                    "trade_count": 0,
                }
                for symbol, name, pip, is_open, suspended in items
            ],
        }
    )


def test_the_ten_synthetic_indices_become_deriv_markets(public):
    result = deriv_markets_sync(client=public)

    assert sorted(result.created) == sorted(DERIV_SYMBOLS)
    markets = {m.symbol: m for m in Market.objects.filter(source=Source.DERIV)}
    assert set(markets) == set(DERIV_SYMBOLS)
    assert markets["R_50"].name == "Volatility 50 Index"
    assert markets["1HZ100V"].name == "Volatility 100 (1s) Index"
    assert (markets["R_10"].decimals, markets["R_50"].decimals, markets["R_100"].decimals) == (3, 4, 2)
    assert all(m.is_active and m.tie_rule == TieRule.LOSE for m in markets.values())
    assert {m.tick_interval_ms for s, m in markets.items() if s.startswith("R_")} == {2000}
    assert {m.tick_interval_ms for s, m in markets.items() if s.startswith("1HZ")} == {1000}


def test_payout_and_stakes_are_display_defaults_not_deriv_facts(public):
    deriv_markets_sync(client=public)

    market = Market.objects.get(symbol="R_100")
    defaults = {f: Market._meta.get_field(f).default for f in ("payout_percent", "min_stake", "max_stake")}
    assert (market.payout_percent, market.min_stake, market.max_stake) == (
        defaults["payout_percent"],
        defaults["min_stake"],
        defaults["max_stake"],
    )


def test_a_second_sync_changes_nothing(public):
    deriv_markets_sync(client=public)
    before = list(Market.objects.order_by("pk").values())
    events = AuditEvent.objects.count()

    result = deriv_markets_sync(client=public)

    assert sorted(result.unchanged) == sorted(DERIV_SYMBOLS)
    assert not (result.created or result.updated or result.deactivated)
    assert list(Market.objects.order_by("pk").values()) == before
    assert AuditEvent.objects.count() == events


def test_without_a_client_it_opens_a_public_socket_for_the_call(deriv_settings, fake_deriv):
    result = deriv_markets_sync()

    assert len(result.created) == 10
    assert len(fake_deriv.requests("active_symbols", kind="public")) == 1
    assert fake_deriv.socket_count("public") == 0


def test_admin_edits_survive_and_deriv_owned_fields_come_back(public):
    deriv_markets_sync(client=public)
    market = Market.objects.get(symbol="R_25")
    market.payout_percent, market.min_stake, market.max_stake = Decimal("87.50"), Decimal("1.00"), Decimal("250.00")
    market.name, market.decimals, market.tie_rule = "Renamed", 5, TieRule.REFUND
    market.save()

    result = deriv_markets_sync(client=public)

    market.refresh_from_db()
    assert result.updated == ["R_25"]
    assert (market.payout_percent, market.min_stake, market.max_stake) == (
        Decimal("87.50"),
        Decimal("1.00"),
        Decimal("250.00"),
    )
    assert (market.name, market.decimals, market.tie_rule) == ("Volatility 25 Index", 3, TieRule.LOSE)


def test_the_feeds_last_tick_is_left_alone(public):
    deriv_markets_sync(client=public)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    Market.objects.filter(symbol="R_10").update(last_seq=42, last_price=Decimal("6234.5"), last_tick_at=at)
    Market.objects.filter(symbol="R_10").update(name="Old name")

    deriv_markets_sync(client=public)

    market = Market.objects.get(symbol="R_10")
    assert (market.last_seq, market.last_price, market.last_tick_at) == (42, Decimal("6234.5"), at)


def test_otc_markets_are_never_touched(public, markets):
    clash = Market.objects.create(symbol="R_75", name="Our own R_75", source=Source.OTC, base_price=Decimal("10"))
    before = list(Market.objects.filter(source=Source.OTC).order_by("pk").values())

    result = deriv_markets_sync(client=public)

    assert result.skipped == ["R_75"]
    assert list(Market.objects.filter(source=Source.OTC).order_by("pk").values()) == before
    clash.refresh_from_db()
    assert clash.source == Source.OTC and clash.name == "Our own R_75"
    assert Market.objects.filter(source=Source.DERIV).count() == 9


def test_a_closed_or_suspended_market_is_inactive_and_reopens_with_deriv():
    deriv_markets_apply(
        items=symbols(
            ("R_10", "Volatility 10 Index", 0.001, 0, 0),
            ("R_25", "Volatility 25 Index", 0.001, 1, 1),
            ("R_50", "Volatility 50 Index", 0.0001, 1, 0),
        )
    )
    active = dict(Market.objects.values_list("symbol", "is_active"))
    assert active == {"R_10": False, "R_25": False, "R_50": True}

    result = deriv_markets_apply(items=symbols(("R_10", "Volatility 10 Index", 0.001, 1, 0)))

    assert result.updated == ["R_10"] and sorted(result.deactivated) == ["R_50"]
    assert dict(Market.objects.values_list("symbol", "is_active")) == {"R_10": True, "R_25": False, "R_50": False}
    event = AuditEvent.objects.filter(action="deriv.market_synced", target_id=str(Market.objects.get(symbol="R_10").pk))
    assert event.latest("pk").data["changes"] == {"is_active": [False, True]}


def test_a_symbol_left_out_of_the_settings_is_switched_off(public, settings):
    deriv_markets_sync(client=public)
    settings.DERIV = {**settings.DERIV, "SYMBOLS": ["R_10", "R_100"]}

    result = deriv_markets_sync(client=public)

    assert sorted(result.deactivated) == sorted(set(DERIV_SYMBOLS) - {"R_10", "R_100"})
    assert set(Market.objects.filter(is_active=True).values_list("symbol", flat=True)) == {"R_10", "R_100"}


def test_other_deriv_symbols_are_not_imported(public):
    deriv_markets_apply(
        items=symbols(("frxEURUSD", "EUR/USD", 0.00001, 1, 0), ("R_10", "Volatility 10 Index", 0.001, 1, 0))
    )

    assert list(Market.objects.values_list("symbol", flat=True)) == ["R_10"]


def test_a_deriv_error_writes_nothing(public, fake_deriv):
    fake_deriv.fail_next("active_symbols", "InternalError")

    with pytest.raises(InternalError):
        deriv_markets_sync(client=public)

    assert not Market.objects.exists()
