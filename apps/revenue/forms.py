from django import forms

from .models import MARKUP_MAX, MARKUP_MIN


class CodeForm(forms.Form):
    """A partner's new referral code; the service checks the format and that no one else has it, in any case."""

    code = forms.CharField(
        label="Referral code",
        max_length=60,
        help_text="3 to 30 characters: letters, digits, _ and -. Links with your old code stop counting.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )


class MarkupForm(forms.Form):
    """A partner's markup in percent, as typed: the service parses and bounds it, in a partner's words."""

    markup = forms.CharField(
        label="Markup (%)",
        max_length=20,
        help_text=(
            f"{MARKUP_MIN:g}% to {MARKUP_MAX:g}% of your traders' winning profits. "
            "Applies to contracts bought from now on; open contracts keep their rate."
        ),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
