"""The Settings sections' forms: each field refuses bad input with a message next to it."""

from django import forms

from apps.common.forms import MoneyField, PlainIntegerField
from apps.markets.models import Market
from apps.trading.models import DurationUnit, duration_error

from .models import SELF_EXCLUSION_CHOICES
from .selectors import time_zone_names
from .services import limit_errors

LIMIT_ERRORS = {
    "invalid": "Enter an amount as a number, like 100.00, or leave it empty for no limit.",
    "max_digits": "That amount is too large.",
    "max_whole_digits": "That amount is too large.",
}


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        max_length=60, required=False, error_messages={"max_length": "Keep the name to 60 characters or fewer."}
    )
    time_zone = forms.ChoiceField(
        error_messages={
            "required": "Choose a time zone.",
            "invalid_choice": "%(value)s is not a time zone we know: choose one from the list.",
        }
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name.replace("_", " ")) for name in time_zone_names()]


class TradingPreferencesForm(forms.Form):
    default_market = forms.ChoiceField(
        required=False, error_messages={"invalid_choice": "Choose one of the markets open for trading."}
    )
    default_stake = MoneyField(
        required=False,
        min_value=0.01,
        error_messages={"min_value": "Enter a stake of at least 0.01, or leave it empty."},
    )
    default_duration = PlainIntegerField(
        required=False, error_messages={"invalid": "Enter the duration as a whole number."}
    )
    default_duration_unit = forms.ChoiceField(
        required=False,
        choices=[("", "No default"), *DurationUnit.choices],
        error_messages={"invalid_choice": "Choose ticks or minutes."},
    )
    confirm_purchases = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        markets = Market.objects.filter(is_active=True).order_by("name").values_list("symbol", "name")
        self.fields["default_market"].choices = [("", "The first market"), *markets]

    def clean(self):
        data = super().clean()
        duration, unit = data.get("default_duration"), data.get("default_duration_unit")
        if duration is not None and not unit:
            self.add_error("default_duration_unit", "Choose ticks or minutes for this duration.")
        elif duration is not None and (error := duration_error(duration, unit)):
            self.add_error("default_duration", error)
        elif unit and duration is None:
            self.add_error("default_duration", "Enter a duration for this unit, or choose no default.")
        return data


class LimitsForm(forms.Form):
    daily_loss_limit = MoneyField(required=False, max_digits=20, error_messages=LIMIT_ERRORS)
    daily_stake_limit = MoneyField(required=False, max_digits=20, error_messages=LIMIT_ERRORS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            # Two decimals at most is the service's rule too; here it is said before anything else.
            field.error_messages["max_decimal_places"] = "Enter an amount with at most two decimal places."

    def clean(self):
        data = super().clean()
        # The service's own checks, so that every bad value is said at once, each next to its field.
        for name, message in limit_errors({k: v for k, v in data.items() if k in self.fields}).items():
            self.add_error(name, message)
        return data


class SelfExclusionForm(forms.Form):
    period = forms.ChoiceField(
        choices=SELF_EXCLUSION_CHOICES,
        error_messages={
            "required": "Choose how long to pause trading.",
            "invalid_choice": "Choose how long to pause trading: 1 day to 6 months.",
        },
    )
    confirm = forms.BooleanField(
        error_messages={"required": "Tick the box to confirm: a break cannot be shortened or lifted once it starts."}
    )
