"""Number fields for what people type: plain ASCII decimals, nothing Python's parsers also accept.

`Decimal()` and `int()` read far more than a person means by a number:
"NaN", "Infinity", "1e3", "1_0", and digits of every script ("١٠" and
"１０" are both 10). NaN then breaks every comparison (an uncaught
InvalidOperation, an error page), and the others are accepted as numbers no
one typed. These fields accept an optional sign, ASCII digits and one decimal
point, and refuse the rest with the field's own "invalid" message.
"""

import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator

PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)

MONEY_ERRORS = {
    "invalid": "Enter an amount as a number, like 10.00.",
    "max_decimal_places": "Enter an amount with at most two decimal places.",
    "max_digits": "That amount is too large.",
    "max_whole_digits": "That amount is too large.",
}


def _plain(field: forms.Field, value, pattern: re.Pattern) -> None:
    """Refuse a typed value that is not a plain ASCII number (values set in code pass through)."""
    if isinstance(value, str) and not pattern.fullmatch(value.strip()):
        raise ValidationError(field.error_messages["invalid"], code="invalid")


class PlainDecimalField(forms.DecimalField):
    """A DecimalField that reads only plain ASCII decimals: no NaN, Infinity, exponents, underscores or other digits."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        _plain(self, value, PLAIN_DECIMAL)
        return super().to_python(value)


class PlainIntegerField(forms.IntegerField):
    """An IntegerField that reads only plain ASCII whole numbers."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        _plain(self, value, PLAIN_INTEGER)
        return super().to_python(value)


class PlainFloatField(forms.FloatField):
    """A FloatField that reads only plain ASCII decimals."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        _plain(self, value, PLAIN_DECIMAL)
        return super().to_python(value)


class MoneyField(PlainDecimalField):
    """An amount of money as people type it: at most 12 digits, two of them decimals, returned to the cent.

    Every form that takes money uses it, so every form refuses the same bad
    input with a message next to the field; `error_messages` override the
    generic ones (e.g. to say "stake" rather than "amount").
    """

    def __init__(self, *, max_digits: int = 12, decimal_places: int = 2, error_messages=None, widget=None, **kwargs):
        super().__init__(
            max_digits=max_digits,
            decimal_places=decimal_places,
            error_messages={**MONEY_ERRORS, **(error_messages or {})},
            widget=widget or forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
            **kwargs,
        )

    def run_validators(self, value):
        """Digits and places first, alone: "0.001" is refused for its places, not also as below a minimum."""
        if value in self.empty_values:
            return
        shape = [v for v in self.validators if isinstance(v, DecimalValidator)]
        for group in (shape, [v for v in self.validators if not isinstance(v, DecimalValidator)]):
            errors = []
            for validator in group:
                try:
                    validator(value)
                except ValidationError as error:
                    if getattr(error, "code", None) in self.error_messages:
                        error.message = self.error_messages[error.code]
                    errors.extend(error.error_list)
            if errors:
                raise ValidationError(errors)

    def clean(self, value):
        amount = super().clean(value)
        # "10" and "10.0" become 10.00; more places than allowed were refused above.
        return amount.quantize(Decimal(1).scaleb(-self.decimal_places)) if amount is not None else None
