"""Bot fragments pushed live: each trader's bot statuses, and each market's signals."""

from django.template.loader import render_to_string

from .selectors import bots_for, kill_switches_for, market_signals


def bots_fragment(user) -> str:
    """Each of the trader's bots' live part (status, today's figures, start/stop) and the kill switch banner.

    The same partials the bots list and the bot's page render, swapped in by id.
    """
    bots = bots_for(user=user)
    if not bots:
        return ""
    return render_to_string("bots/_status_oob.html", {"bots": bots, "switches": kill_switches_for(user=user)})


def signals_fragment(market) -> str:
    """The market's latest votes, consensus and regime, as the signals monitor shows them."""
    return render_to_string("bots/_signals.html", {"signal": market_signals(market=market), "oob": True})
