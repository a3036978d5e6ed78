"""Bot fragments pushed live: each trader's bot statuses, and each market's signals."""

from django.template.loader import render_to_string

from apps.markets.models import Market
from apps.realtime.push import market_group, send_group

from .selectors import bots_for, kill_switches_for, market_signals


def bots_fragment(user) -> str:
    """Each of the trader's bots' live part (status, today's figures, start/stop) and the kill switch banner.

    The same partials the bots list and the bot's page render, swapped in by id.
    """
    bots = bots_for(user=user)
    if not bots:
        return ""
    return render_to_string("bots/_status_oob.html", {"bots": bots, "switches": kill_switches_for(user=user)})


def push_signals(market_id: int) -> None:
    """The market's latest votes and consensus, once per market, to everyone watching it."""
    market = Market.objects.filter(pk=market_id).first()
    if market is None:
        return
    html = render_to_string("bots/_signals.html", {"signal": market_signals(market), "oob": True})
    send_group(market_group(market.symbol), html)
