"""Bot fragments pushed live: each trader's bot statuses, and each market's signals."""

from django.template.loader import render_to_string

from .selectors import bots_for, kill_switches_for, market_signals


def bots_fragments(user) -> dict[str, str]:
    """Each of the trader's bots' live part (status, today's figures) and the kill switch banner, by live part.

    `bots.<id>` is one bot's, `bots.kill` the banner: the bots list shows them
    all, a bot's page its own and the banner. The same partials those pages
    render, swapped in by id; neither carries a form (the Start/Stop and kill
    switch forms stay in the page, with the CSRF token of the request that
    rendered it: a push has no request).
    """
    bots = bots_for(user=user)
    if not bots:
        return {}
    parts = {
        f"bots.{bot.pk}": render_to_string("bots/_status.html", {"bot": bot, "oob": True, "error": None})
        for bot in bots
    }
    parts["bots.kill"] = render_to_string(
        "bots/_kill_banner.html", {"switches": kill_switches_for(user=user), "oob": True}
    )
    return parts


def signals_fragment(market) -> str:
    """The market's latest votes, consensus and regime, as the signals monitor shows them."""
    return render_to_string("bots/_signals.html", {"signal": market_signals(market=market), "oob": True})
