from decimal import Decimal

from django import forms

from .models import Channel, Topic

# Shown on the page in this order, each with what it covers.
TOPIC_HELP = {
    Topic.CONTRACT_RESULTS: "Each contract won, lost or refunded.",
    Topic.BOT_STOPPED: "A bot stopped, and why.",
    Topic.DAILY_SUMMARY: "At 07:00 your time: yesterday's trades, net P&L and bots.",
    Topic.LOW_BALANCE: "An account's balance falls below the amount you set.",
    Topic.DERIV: "Nexus lost its link to your Deriv accounts.",
    Topic.SECURITY: "A new sign-in, a changed password or two-factor authentication.",
    Topic.PARTNER_EARNINGS: "What your referred traders earned you the day before (partners).",
    Topic.PLAN_BILLING: "Your plan changed, a payment failed or renews.",
}
SECURITY_CHOICES = [(c.value, c.label) for c in Channel if c != Channel.OFF]


class PreferencesForm(forms.Form):
    """One choice per topic (security: never off) and the low-balance threshold."""

    low_balance_threshold = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_digits=18,
        decimal_places=2,
        label="Low-balance alert below",
        help_text="Empty: no low-balance alert. Applies to each of your accounts, in its own currency.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = {}
        for topic in TOPIC_HELP:
            choices = SECURITY_CHOICES if topic == Topic.SECURITY else Channel.choices
            fields[topic.value] = forms.ChoiceField(
                choices=choices, widget=forms.RadioSelect, label=topic.label, help_text=TOPIC_HELP[topic]
            )
        fields["low_balance_threshold"] = self.fields["low_balance_threshold"]
        self.fields = fields

    def topic_fields(self):
        return [self[topic.value] for topic in TOPIC_HELP]
