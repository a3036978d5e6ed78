from django.template.loader import render_to_string

from apps.accounts.selectors import selected_account

from . import selectors
from .models import HELD


def positions_context(account) -> dict:
    contracts = selectors.contracts_for(account=account)
    positions = selectors.open_positions(account=account)
    stats = selectors.stats(contracts)
    return {
        "positions": positions,
        # Open positions past the listed ones (counted by the stats' query).
        "positions_more": max(stats.open - len(positions), 0),
        "recent": selectors.with_source(contracts.exclude(status__in=HELD)).order_by("-settled_at", "-id")[:8],
        "stats": stats,
    }


def positions_fragment(user) -> str:
    account = selected_account(user=user)
    if account is None:
        return ""
    return render_to_string("trading/trade.html#positions", positions_context(account))
