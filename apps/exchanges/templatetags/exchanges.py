"""How the exchange pages write crypto amounts and the times an explanation stores."""

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django import template
from django.utils.dateparse import parse_datetime

register = template.Library()


@register.filter
def amount(value, places: int = 8) -> str:
    """An asset amount or price, up to `places` decimals, no trailing zeros ("0.0125", "50,000.5"); "—" if none."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value)).quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_EVEN)
    except (InvalidOperation, ValueError):
        return "—"
    text = f"{number:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def as_datetime(value):
    """An ISO 8601 time as stored in an explanation, as a datetime for the `date` filter (None if unreadable)."""
    return parse_datetime(value) if isinstance(value, str) else None
