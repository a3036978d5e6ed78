"""Exchange forms: connecting a key, and a spot bot's settings.

The forms check what a trader typed (types, ranges, a pair the connection's
exchange lists); the services check the rest (the key with the exchange, the
plan's limits) and the views put their errors on the fields they name.
"""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from apps.bots.engine.config import DecisionConfig
from apps.bots.engine.strategies import STRATEGIES
from apps.bots.forms import REGIME_CHOICES, STRATEGY_LABELS, confidence_field
from apps.common.forms import PlainDecimalField, PlainIntegerField

from . import selectors
from .engine import POSITION_PCT_RANGE
from .models import Exchange, ExchangeConnection, SpotMarket, Timeframe
from .services.bots import SPOT_BOT_FIELDS

# What every spot bot keeps to, whatever its settings (SpotBot's defaults): shown, not edited.
FIXED_LIMITS = "At most 50 trades a day; stopped after 5 errors in a row or a 20% drawdown from its peak equity."


class ConnectForm(forms.Form):
    exchange = forms.ChoiceField(
        choices=Exchange.choices,
        initial=Exchange.BINANCE,
        error_messages={"required": "Choose an exchange.", "invalid_choice": "Choose an exchange Nexus supports."},
    )
    label = forms.CharField(
        label="Name",
        max_length=60,
        initial="Binance",
        error_messages={
            "required": "Give the connection a name.",
            "max_length": "Keep the name under 60 characters.",
        },
    )
    api_key = forms.CharField(
        label="API key",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Paste the API key.", "max_length": "That is not an API key: it is too long."},
    )
    secret = forms.CharField(
        label="Secret",
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        error_messages={"required": "Paste the secret key.", "max_length": "That is not a secret: it is too long."},
    )
    passphrase = forms.CharField(
        label="Passphrase (only if the exchange gave you one)",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        error_messages={"max_length": "That is not a passphrase: it is too long."},
    )

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"]
        if any(c.isspace() for c in key):
            raise forms.ValidationError("An API key has no spaces: paste it again.")
        return key


def service_errors_add(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError on the form: each message on the field it names, else above the form.

    The errors keep their codes, so a plan refusal shows its Upgrade link.
    """
    errors = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


def _percent(label: str, initial: str, low: str, high: str, message: str) -> PlainDecimalField:
    # Django formats these messages with %-style params: a percent sign is written twice.
    message = message.replace("%", "%%")
    return PlainDecimalField(
        label=label,
        initial=Decimal(initial),
        min_value=Decimal(low),
        max_value=Decimal(high),
        max_digits=4,
        decimal_places=2,
        error_messages={
            "required": f"Enter the {label.lower()}.",
            "invalid": f"Enter the {label.lower()} as a percentage, like {initial}.",
            "min_value": message,
            "max_value": message,
            "max_digits": message,
            "max_whole_digits": message,
            "max_decimal_places": "Enter a percentage with at most two decimal places.",
        },
        widget=forms.NumberInput(attrs={"step": "0.01", "min": low, "max": high, "inputmode": "decimal"}),
    )


def _count(label: str, initial: int, high: int, message: str) -> PlainIntegerField:
    return PlainIntegerField(
        label=label,
        initial=initial,
        min_value=1,
        max_value=high,
        error_messages={
            "required": f"Enter the {label.lower()}.",
            "invalid": "Enter a whole number.",
            "min_value": message,
            "max_value": message,
        },
        widget=forms.NumberInput(attrs={"min": 1, "max": high}),
    )


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ExchangeConnection) -> str:
        return obj.label if obj.paper else f"{obj.label} ({obj.get_exchange_display()} ••••{obj.key_last4})"


class MarketChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SpotMarket) -> str:
        return f"{obj.symbol} ({obj.get_exchange_display()})"


class SpotBotForm(forms.Form):
    connection = ConnectionChoiceField(
        queryset=ExchangeConnection.objects.none(),
        empty_label=None,
        error_messages={
            "required": "Choose an exchange connection.",
            "invalid_choice": "Choose one of your exchange connections.",
        },
    )
    market = MarketChoiceField(
        queryset=SpotMarket.objects.filter(active=True),
        empty_label=None,
        label="Pair",
        error_messages={"required": "Choose a pair.", "invalid_choice": "That pair is not offered for trading."},
    )
    name = forms.CharField(
        max_length=60,
        error_messages={"required": "Give the bot a name.", "max_length": "Keep the name under 60 characters."},
    )
    timeframe = forms.ChoiceField(
        label="Candles",
        choices=Timeframe.choices,
        initial=Timeframe.ONE_MINUTE,
        error_messages={"required": "Choose 1-minute or 5-minute candles.", "invalid_choice": "Choose 1m or 5m."},
    )
    strategies = forms.MultipleChoiceField(
        label="Strategies that vote",
        choices=[(name, STRATEGY_LABELS.get(name, (name, ""))[0]) for name in STRATEGIES],
        initial=list(STRATEGIES),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "Choose among the strategies listed."},
    )
    min_agreeing = _count(
        "Agreeing votes needed", 2, len(STRATEGIES), f"Agreeing votes must be between 1 and {len(STRATEGIES)}."
    )
    min_confidence = confidence_field()
    blocked_regimes = forms.MultipleChoiceField(
        label="Do not buy when the market is",
        choices=REGIME_CHOICES,
        initial=["BEARISH"],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "Choose regimes among bullish, bearish and sideways."},
    )
    position_pct = _percent(
        "Position size (% of equity)",
        "5",
        str(POSITION_PCT_RANGE[0]),
        str(POSITION_PCT_RANGE[1]),
        f"Position size must be between {POSITION_PCT_RANGE[0]}% and {POSITION_PCT_RANGE[1]}% of equity.",
    )
    max_open_positions = _count("Open positions at most", 1, 5, "Open positions must be between 1 and 5.")
    stop_loss_pct = _percent("Stop-loss (%)", "2", "0.5", "20", "The stop-loss must be between 0.5% and 20%.")
    take_profit_pct = _percent("Take-profit (%)", "4", "0.5", "50", "The take-profit must be between 0.5% and 50%.")
    pyramiding = forms.BooleanField(label="Add to winning positions (pyramiding)", required=False, initial=False)
    max_adds = _count("Additions at most", 2, 5, "Additions must be between 1 and 5.")
    add_spacing_pct = _percent(
        "Add after a rise of (%)", "1", "0.5", "10", "The spacing between additions must be between 0.5% and 10%."
    )

    fixed_limits = FIXED_LIMITS

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = ExchangeConnection.objects.filter(
            pk__in=[c.pk for c in selectors.connections_of(user=user)]
        ).order_by("-paper", "created_at")

    def clean(self):
        data = super().clean()
        connection, market = data.get("connection"), data.get("market")
        if connection and market and market.exchange != connection.exchange:
            self.add_error("market", f"{connection.get_exchange_display()} does not list {market.symbol}.")
        chosen = data.get("strategies")
        if "strategies" in data and not chosen:
            self.add_error("strategies", "Choose at least one strategy.")
        agreeing = data.get("min_agreeing")
        if chosen and agreeing is not None and agreeing > len(chosen):
            self.add_error(
                "min_agreeing",
                f"Agreeing votes cannot be more than the strategies chosen ({len(chosen)}).",
            )
        if not self.errors:
            try:
                DecisionConfig({name: {} for name in chosen}, agreeing, data["min_confidence"])
            except ValueError as error:
                self.add_error("strategies", str(error)[0].upper() + str(error)[1:] + ".")
        return data

    def settings(self) -> dict:
        """The cleaned settings, as `spot_bot_create` takes them."""
        data = self.cleaned_data
        values = {name: data[name] for name in SPOT_BOT_FIELDS if name in data}
        values["strategies"] = {name: {} for name in data.get("strategies", [])}
        values["blocked_regimes"] = list(data.get("blocked_regimes", []))
        return values


class SpotBacktestForm(forms.Form):
    """A spot bot's settings over its pair's recorded candles."""

    days = PlainIntegerField(
        label="Recorded days",
        initial=1,
        min_value=1,
        max_value=7,
        error_messages={
            "required": "Enter how many days of recorded candles to replay, from 1 to 7.",
            "invalid": "Enter a whole number of days, from 1 to 7.",
            "min_value": "Choose between 1 and 7 days of recorded candles.",
            "max_value": "Choose between 1 and 7 days of recorded candles.",
        },
        widget=forms.NumberInput(attrs={"min": 1, "max": 7}),
    )
    starting_quote = PlainDecimalField(
        label="Starting balance (quote)",
        initial=Decimal("10000"),
        min_value=Decimal("100"),
        max_value=Decimal("1000000"),
        max_digits=9,
        decimal_places=2,
        error_messages={
            "required": "Enter the starting balance.",
            "invalid": "Enter the starting balance as a number, like 10000.",
            "min_value": "Start with at least 100.",
            "max_value": "Start with at most 1,000,000.",
            "max_digits": "Start with at most 1,000,000.",
            "max_whole_digits": "Start with at most 1,000,000.",
            "max_decimal_places": "Enter the starting balance with at most two decimal places.",
        },
        widget=forms.NumberInput(attrs={"step": "0.01", "min": 100, "inputmode": "decimal"}),
    )
