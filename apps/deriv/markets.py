"""Deriv's synthetic indices in the markets table, from `active_symbols` on the public socket.

    result = deriv_markets_sync(client=feed_client)   # or deriv_markets_sync() to open a socket for it

The sync owns what Deriv decides: the display name, the decimals (from the pip
size), whether the market is open (`exchange_is_open` and not
`is_trading_suspended`), the tie rule (Deriv: an equal exit loses) and the
tick interval (R_* every 2 s, 1HZ* every second). Everything else on the row
(payout %, minimum and maximum stake) is a display default an admin may edit,
and a sync leaves it alone: the real payout and minimum stake of a Deriv
contract come from each price quote (`proposal`), with trading. OTC markets are
never touched, even one whose symbol collides with a Deriv one.

To take a Deriv market off Nexus, leave it out of DERIV["SYMBOLS"]: the next
sync deactivates it. An admin's `is_active` switch lasts until the next sync,
since Deriv opening or closing a market is the fact the sync mirrors.
"""

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_log
from apps.markets.models import Market, Source, TieRule

from . import adapter
from .client import DerivClient

logger = logging.getLogger(__name__)

# The indices the Deriv issue names; settings.DERIV["SYMBOLS"] may replace the list.
DERIV_SYMBOLS = (
    "R_10",
    "R_25",
    "R_50",
    "R_75",
    "R_100",
    "1HZ10V",
    "1HZ25V",
    "1HZ50V",
    "1HZ75V",
    "1HZ100V",
)
MAX_DECIMALS = 6  # Market.decimals and the price columns stop there


def deriv_symbols() -> tuple[str, ...]:
    return tuple(settings.DERIV.get("SYMBOLS") or DERIV_SYMBOLS)


def tick_interval_ms(symbol: str) -> int:
    """API.md §8: the "(1s)" indices tick every second, the others every two seconds."""
    return 1000 if symbol.startswith("1HZ") else 2000


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)  # ours, but no longer listed by Deriv or by settings
    skipped: list[str] = field(default_factory=list)  # the symbol belongs to an OTC market

    def __str__(self) -> str:
        parts = [f"{name} {len(getattr(self, name))}" for name in ("created", "updated", "unchanged", "deactivated")]
        if self.skipped:
            parts.append(f"skipped {', '.join(self.skipped)}")
        return ", ".join(parts)


def _deriv_fields(item: adapter.ActiveSymbol) -> dict:
    return {
        "name": (item.name or item.symbol)[: Market._meta.get_field("name").max_length],
        "decimals": min(item.decimals, MAX_DECIMALS),
        "is_active": item.exchange_is_open and not item.is_trading_suspended,
        "tie_rule": TieRule.LOSE,
        "tick_interval_ms": tick_interval_ms(item.symbol),
    }


def deriv_markets_sync(*, client: DerivClient | None = None, timeout: float = 10.0) -> SyncResult:
    """Create or update the Deriv markets from Deriv's `active_symbols`; idempotent.

    With no client, opens a public socket for the one call and closes it.
    Raises the client's DerivError when Deriv cannot be asked (nothing is written then).
    """
    request = adapter.active_symbols_request()
    if client is None:
        with DerivClient(settings.DERIV["WS_PUBLIC"], name="deriv-sync", ping_interval=None, reconnect=False) as own:
            answer = own.call(request, timeout)
    else:
        answer = client.call(request, timeout)
    return deriv_markets_apply(items=adapter.parse_active_symbols(answer))


def deriv_markets_apply(*, items: list[adapter.ActiveSymbol]) -> SyncResult:
    """Write Deriv's answer into the markets table (the part of the sync that needs no socket)."""
    wanted = deriv_symbols()
    offered = {item.symbol: item for item in items if item.symbol in wanted}
    result = SyncResult()
    with transaction.atomic():
        existing = {m.symbol: m for m in Market.objects.select_for_update().filter(symbol__in=wanted)}
        for symbol in wanted:
            market = existing.get(symbol)
            if market is not None and market.source != Source.DERIV:
                logger.warning("Deriv symbol %s is an OTC market here; left alone", symbol)
                result.skipped.append(symbol)
                continue
            item = offered.get(symbol)
            if item is None:
                if market is not None and market.is_active:
                    _update(market, {"is_active": False}, reason="not offered by Deriv")
                    result.deactivated.append(symbol)
                continue
            fields = _deriv_fields(item)
            if market is None:
                market = Market(symbol=symbol, source=Source.DERIV, base_price=Decimal("0"), **fields)
                market.full_clean()
                market.save()
                audit_log(actor=None, action="deriv.market_created", target=market, data={"symbol": symbol})
                result.created.append(symbol)
                continue
            changes = {name: value for name, value in fields.items() if getattr(market, name) != value}
            if changes:
                _update(market, changes, reason="Deriv's active symbols")
                result.updated.append(symbol)
            else:
                result.unchanged.append(symbol)
        for market in Market.objects.filter(source=Source.DERIV, is_active=True).exclude(symbol__in=wanted):
            _update(market, {"is_active": False}, reason="not in DERIV['SYMBOLS']")
            result.deactivated.append(market.symbol)
    logger.info("Deriv markets synced: %s", result)
    return result


def _update(market: Market, changes: dict, *, reason: str) -> None:
    # A targeted update: the feed's last_* columns and any admin-edited field stay as they are.
    before = {name: _plain(getattr(market, name)) for name in changes}
    Market.objects.filter(pk=market.pk).update(**changes)
    for name, value in changes.items():
        setattr(market, name, value)
    audit_log(
        actor=None,
        action="deriv.market_synced",
        target=market,
        data={"reason": reason, "changes": {name: [before[name], _plain(v)] for name, v in changes.items()}},
    )


def _plain(value):
    return value if isinstance(value, bool | int | str) or value is None else str(value)
