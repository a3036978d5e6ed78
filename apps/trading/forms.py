import uuid
from decimal import Decimal

from django import forms

from apps.common.forms import MoneyField, PlainIntegerField
from apps.markets.models import Market

from .models import Direction, DurationUnit, duration_error

STAKE_ERRORS = {
    "required": "Enter a stake.",
    "invalid": "Enter the stake as a number, like 10.00.",
    "max_decimal_places": "Enter a stake with at most two decimal places.",
    "max_digits": "That stake is too large.",
    "max_whole_digits": "That stake is too large.",
}


def stake_limits(market: Market, currency: str) -> str:
    """The stakes a market takes, as the payout preview says them."""
    return f"Stake between {market.min_stake:,.2f} and {market.max_stake:,.2f} {currency} on {market.name}"


class TradeForm(forms.Form):
    market = forms.ModelChoiceField(
        queryset=Market.objects.filter(is_active=True),
        to_field_name="symbol",
        empty_label=None,
        error_messages={
            "required": "Choose a market.",
            "invalid_choice": "That market does not exist or is closed for trading.",
        },
    )
    direction = forms.ChoiceField(
        choices=Direction.choices,
        error_messages={"required": "Choose Rise or Fall.", "invalid_choice": "Choose Rise or Fall."},
    )
    # No minimum here: the market's own (said with its value by the purchase's checks) is the one that counts.
    stake = MoneyField(initial=Decimal("10.00"), error_messages=STAKE_ERRORS)
    duration = PlainIntegerField(
        initial=5,
        error_messages={"required": "Enter a duration.", "invalid": "Enter the duration as a whole number."},
        widget=forms.NumberInput(attrs={"min": 1, "max": 60}),
    )
    duration_unit = forms.ChoiceField(
        choices=DurationUnit.choices,
        initial=DurationUnit.TICKS,
        error_messages={"invalid_choice": "Choose ticks or minutes."},
    )
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["idempotency_key"].initial = uuid.uuid4().hex
        self.fields["stake"].widget.attrs["min"] = "0.35"

    def clean(self):
        data = super().clean()
        if "duration" in data and "duration_unit" in data:
            error = duration_error(data["duration"], data["duration_unit"])
            if error:
                self.add_error("duration", error)
        if data.get("stake") is not None and data["stake"] <= 0 and "market" not in data:
            # Without a market there is no minimum to name.
            self.add_error("stake", "The stake must be more than zero.")
        return data
