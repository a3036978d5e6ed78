"""Market fragments pushed live."""

from django.template.loader import render_to_string


def tick_fragment(market) -> str:
    """The market's latest tick (the quote, with the sequence number and time the chart reads)."""
    return render_to_string("markets/_tick.html", {"market": market})
