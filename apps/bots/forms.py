"""Bot and backtest forms: one set of strategy, consensus, regime, duration and risk fields for both.

The form checks types and formats (and a contract's duration, with trading's
`duration_error`), and builds the `DecisionConfig`, whose
ValueError messages (a strategy's parameter out of its class's `bounds`,
consensus thresholds) land on the field they are about. The rules that need a
market or an account (stake limits, what an account may trade) are the
services' (`bot_errors`, `RiskSettings.errors`); the views put those errors on
their fields too.
"""

import re
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal

from django import forms
from django.conf import settings as django_settings
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.common.forms import MoneyField, PlainDecimalField, PlainFloatField, PlainIntegerField
from apps.markets.models import Market
from apps.trading.models import DurationUnit, duration_error

from .engine.config import DEFAULT_MIN_AGREEING, DEFAULT_MIN_CONFIDENCE, DecisionConfig
from .engine.consensus import check_bounds
from .engine.regime import RegimeKind
from .engine.strategies import STRATEGIES, build
from .models import RISK_SETTING_FIELDS, BacktestSource, Bot, Recovery, risk_settings_of

STRATEGY_LABELS = {
    "scalping": ("Scalping", "Short tick momentum: a streak of ticks one way."),
    "momentum": ("Momentum", "A fast EMA away from a slow one, against volatility."),
    "breakout": ("Breakout", "The price leaves its recent high–low range."),
    "dual_rsi": ("Dual RSI", "Two RSIs both oversold (rise) or both overbought (fall)."),
}
REGIME_CHOICES = [(kind.value, kind.value.title()) for kind in RegimeKind]


def _money(label: str, initial: str, **kwargs) -> MoneyField:
    return MoneyField(
        label=label, initial=Decimal(initial), error_messages={"required": f"Enter {label.lower()}."}, **kwargs
    )


def _count(label: str, initial: int, high: int, **kwargs) -> PlainIntegerField:
    return PlainIntegerField(
        label=label,
        initial=initial,
        max_value=high,
        error_messages={
            "required": f"Enter {label.lower()}.",
            "invalid": "Enter a whole number.",
            "max_value": f"{label} can be at most {high}.",
        },
        widget=forms.NumberInput(attrs={"min": 1, "max": high}),
        **kwargs,
    )


def param_field_name(strategy: str, param: str) -> str:
    return f"{strategy}-{param}"


@dataclass
class StrategyGroup:
    """One strategy's checkbox and its parameter fields, for the template."""

    name: str
    label: str
    help: str
    checked: bool
    params: list  # BoundFields


def confidence_field(initial=DEFAULT_MIN_CONFIDENCE) -> PlainDecimalField:
    """The consensus's combined confidence threshold, 0 to 1, as every bot form asks for it."""
    return PlainDecimalField(
        label="Combined confidence needed (0 to 1)",
        initial=initial,
        max_digits=3,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("1"),
        error_messages={
            "required": "Enter the confidence threshold, between 0 and 1.",
            "invalid": "Enter the confidence threshold as a number between 0 and 1, like 0.70.",
            "min_value": "The confidence threshold must be between 0 and 1.",
            "max_value": "The confidence threshold must be between 0 and 1.",
            "max_digits": "The confidence threshold must be between 0 and 1.",
            "max_whole_digits": "The confidence threshold must be between 0 and 1.",
            "max_decimal_places": "Enter the confidence threshold with at most two decimal places.",
        },
        widget=forms.NumberInput(attrs={"step": "0.01", "min": 0, "max": 1}),
    )


class SettingsForm(forms.Form):
    """Strategies, consensus, regimes, duration and risk: what a bot and a backtest both run with."""

    strategies = forms.MultipleChoiceField(
        choices=[(name, STRATEGY_LABELS.get(name, (name, ""))[0]) for name in STRATEGIES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Strategies that vote",
    )
    min_agreeing = PlainIntegerField(
        label="Agreeing votes needed",
        initial=DEFAULT_MIN_AGREEING,
        error_messages={"required": "Enter how many votes must agree.", "invalid": "Enter a whole number."},
        widget=forms.NumberInput(attrs={"min": 1, "max": len(STRATEGIES)}),
    )
    min_confidence = confidence_field()
    blocked_regimes = forms.MultipleChoiceField(
        label="Do not trade when the market is",
        choices=REGIME_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "Choose regimes among bullish, bearish and sideways."},
    )
    duration = PlainIntegerField(
        label="Contract duration",
        initial=5,
        error_messages={"required": "Enter a duration.", "invalid": "Enter the duration as a whole number."},
        widget=forms.NumberInput(attrs={"min": 1, "max": 60}),
    )
    duration_unit = forms.ChoiceField(
        choices=[(DurationUnit.TICKS, "ticks (1–10)"), (DurationUnit.MINUTES, "minutes (1, 5, 15, 30, 60)")],
        initial=DurationUnit.TICKS,
        error_messages={"invalid_choice": "Choose ticks or minutes.", "required": "Choose ticks or minutes."},
    )
    base_stake = _money("Base stake", "1.00")
    max_stake = _money("Maximum stake", "10.00")
    recovery = forms.ChoiceField(
        label="After a loss",
        choices=Recovery.choices,
        initial=Recovery.NONE,
        error_messages={"invalid_choice": "Choose no recovery or Fibonacci recovery (martingale is not offered)."},
    )
    fibonacci_max_steps = _count("Fibonacci steps at most", 5, 10)
    daily_loss_limit = _money("Daily loss limit", "100.00")
    max_consecutive_losses = _count("Losses in a row before it stops", 5, 1000)
    max_trades_per_day = _count("Trades per day at most", 50, 100_000)
    max_open_contracts = _count("Open contracts at most", 3, 1000)
    max_drawdown_pct = PlainDecimalField(
        label="Maximum drawdown (%)",
        initial=Decimal("20"),
        max_digits=5,
        decimal_places=2,
        error_messages={
            "required": "Enter the maximum drawdown.",
            "invalid": "Enter the drawdown as a percentage, like 20.",
            "max_decimal_places": "Enter the drawdown with at most two decimal places.",
            "max_digits": "The maximum drawdown must be more than 0% and at most 100%.",
            "max_whole_digits": "The maximum drawdown must be more than 0% and at most 100%.",
        },
        widget=forms.NumberInput(attrs={"step": "0.01", "min": 0, "max": 100}),
    )
    max_consecutive_errors = _count("Errors in a row before it stops", 5, 1000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and "strategies" not in self.initial:
            self.initial["strategies"] = list(STRATEGIES)
        self.param_names: dict[str, list[str]] = {}
        for name, cls in STRATEGIES.items():
            self.param_names[name] = []
            for field in fields(cls):
                low, high = cls.bounds[field.name]
                default = field.default if field.default is not MISSING else None
                label = field.name.replace("_", " ").capitalize()
                between = f"{label} must be between {low:g} and {high:g}."
                common = {
                    "label": label,
                    "required": False,
                    "initial": default,
                    "min_value": low,
                    "max_value": high,
                    "help_text": f"{low:g}–{high:g}",
                }
                if field.type is int:
                    form_field = PlainIntegerField(
                        **common,
                        error_messages={"invalid": "Enter a whole number.", "min_value": between, "max_value": between},
                    )
                else:
                    form_field = PlainFloatField(
                        **common,
                        error_messages={"invalid": "Enter a number.", "min_value": between, "max_value": between},
                        widget=forms.NumberInput(attrs={"step": "any"}),
                    )
                key = param_field_name(name, field.name)
                self.fields[key] = form_field
                self.param_names[name].append(key)
        self.decision: DecisionConfig | None = None

    # --- Reading and prefilling -------------------------------------------------

    @staticmethod
    def initial_from(settings: dict, strategies: dict, min_agreeing: int, min_confidence) -> dict:
        """Initial values from stored settings (a bot, a backtest's snapshot)."""
        initial = dict(settings) | {
            "strategies": list(strategies),
            "min_agreeing": min_agreeing,
            "min_confidence": Decimal(str(min_confidence)),
        }
        for name, params in strategies.items():
            for param, value in (params or {}).items():
                initial[param_field_name(name, param)] = value
        return initial

    def strategy_groups(self) -> list[StrategyGroup]:
        chosen = set(self["strategies"].value() or [])
        groups = []
        for name, keys in self.param_names.items():
            label, help_text = STRATEGY_LABELS.get(name, (name, ""))
            groups.append(StrategyGroup(name, label, help_text, name in chosen, [self[k] for k in keys]))
        return groups

    def risk_fields(self) -> list:
        return [self[name] for name in RISK_SETTING_FIELDS]

    # --- Validation -------------------------------------------------------------

    def clean(self):
        data = super().clean()
        self._check_risk(data)
        if "duration" in data and "duration_unit" in data:
            self._check_duration(data["duration"], data["duration_unit"])
        chosen = data.get("strategies") or []
        # Parameters of strategies that do not vote are not checked.
        for name, keys in self.param_names.items():
            if name not in chosen:
                for key in keys:
                    self._errors.pop(key, None)
        if not chosen:
            self.add_error("strategies", "Choose at least one strategy.")
            return data
        if "min_agreeing" in data:
            # Checked against the strategies chosen whatever else is wrong, so it is said in the same round.
            try:
                check_bounds(len(chosen), data["min_agreeing"], Decimal("0"))
            except ValueError as error:
                self._add_decision_error(str(error), chosen)
        strategies: dict[str, dict] = {}
        for name in chosen:
            params = {}
            complete = True
            for key in self.param_names[name]:
                if key in self._errors:
                    complete = False
                    continue
                value = data.get(key)
                if value is None:
                    self.add_error(key, "Enter a value.")
                    complete = False
                    continue
                param = key.split("-", 1)[1]
                field_type = next(f.type for f in fields(STRATEGIES[name]) if f.name == param)
                params[param] = value if field_type is int else float(value)
            strategies[name] = params
            if complete:
                # Each strategy's own rules (fast shorter than slow...), whatever the other fields say.
                try:
                    build(name, params)
                except ValueError as error:
                    self._add_decision_error(str(error), chosen)
        if self._errors or any(f not in data for f in ("min_agreeing", "min_confidence")):
            return data
        try:
            self.decision = DecisionConfig(strategies, data["min_agreeing"], data["min_confidence"])
        except ValueError as error:
            self._add_decision_error(str(error), chosen)
        return data

    def _check_risk(self, data: dict) -> None:
        """The risk manager's own checks, shown with every other error rather than after them."""
        market = data.get("market")
        if market is None or any(name not in data for name in RISK_SETTING_FIELDS):
            return
        for name, message in risk_settings_of(data, market).errors().items():
            field = "base_stake" if name.startswith("market_") else name
            if field not in self._errors:
                self.add_error(field, message)

    def _check_duration(self, duration: int, unit: str) -> None:
        if message := duration_error(duration, unit):
            self.add_error("duration", message)

    def _add_decision_error(self, message: str, chosen: list[str]) -> None:
        text = message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")
        for name in chosen:
            if message.startswith(f"{name}:"):
                rest = message.split(":", 1)[1]
                # The parameter the message names first carries it (e.g. "the fast EMA (9) ...").
                mentioned = [
                    (match.start(), key)
                    for key in self.param_names[name]
                    if (match := re.search(rf"\b{re.escape(key.split('-', 1)[1])}\b", rest))
                ]
                key = min(mentioned)[1] if mentioned else self.param_names[name][0]
                self.add_error(key, text)
                return
        if "agreeing votes" in message:
            self.add_error("min_agreeing", text)
        elif "confidence" in message:
            self.add_error("min_confidence", text)
        else:
            self.add_error("strategies", text)

    def settings(self, names) -> dict:
        """The cleaned values of `names`, as the services take them."""
        data = self.cleaned_data
        values = {name: data[name] for name in names if name in data}
        if "blocked_regimes" in values:
            values["blocked_regimes"] = list(values["blocked_regimes"])
        return values

    def add_service_errors(self, errors: dict[str, list[str]] | list[str]) -> None:
        """A service's ValidationError, each message on its field (or on the form when it names none)."""
        if isinstance(errors, list):
            errors = {"__all__": errors}
        for field, messages in errors.items():
            self.add_error(field if field in self.fields else None, messages)

    def merge_service_errors(self, errors: dict[str, str]) -> None:
        """The service's checks next to the form's own, in the same round: each on a field with no error yet.

        Called on an invalid form too, with the settings that did clean; the
        risk and duration checks are the form's own too, and a service's
        message about them is kept only when every field it reads cleaned
        (the others read defaults then, which say nothing about what was typed).
        """
        data = self.cleaned_data
        incomplete = set()
        if not all(name in data for name in RISK_SETTING_FIELDS):
            incomplete.update(RISK_SETTING_FIELDS)
        if not ("duration" in data and "duration_unit" in data):
            incomplete.add("duration")
        for field, message in errors.items():
            if field in self.errors or field in incomplete:
                continue
            self.add_error(field if field in self.fields else None, message)


class BotForm(SettingsForm):
    name = forms.CharField(
        label="Name",
        max_length=60,
        error_messages={"required": "Give the bot a name.", "max_length": "Keep the name under 60 characters."},
    )
    account = forms.ModelChoiceField(
        queryset=TradingAccount.objects.none(),
        empty_label=None,
        error_messages={"required": "Choose an account.", "invalid_choice": "Choose one of your accounts."},
    )
    market = forms.ModelChoiceField(
        queryset=Market.objects.filter(is_active=True),
        empty_label=None,
        error_messages={
            "required": "Choose a market.",
            "invalid_choice": "That market does not exist or is closed for trading.",
        },
    )

    field_order = ["name", "account", "market"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = TradingAccount.objects.filter(user=user)

    @classmethod
    def initial_for(cls, bot: Bot) -> dict:
        from .services import BOT_SETTINGS

        settings = {name: getattr(bot, name) for name in BOT_SETTINGS}
        return cls.initial_from(settings, bot.config.strategies, bot.config.min_agreeing, bot.config.min_confidence)


class BacktestForm(SettingsForm):
    @property
    def max_active(self) -> int:
        """How many backtests a trader may have queued or running at once, said next to the submit."""
        return django_settings.BACKTESTS["MAX_ACTIVE"]

    name = forms.CharField(
        label="Name",
        max_length=60,
        error_messages={"required": "Give the backtest a name.", "max_length": "Keep the name under 60 characters."},
    )
    market = forms.ModelChoiceField(
        queryset=Market.objects.filter(is_active=True),
        empty_label=None,
        error_messages={"required": "Choose a market.", "invalid_choice": "That market does not exist."},
    )
    source = forms.ChoiceField(
        label="Prices",
        choices=BacktestSource.choices,
        initial=BacktestSource.GENERATED,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose recorded ticks or a generated series."},
    )
    start = forms.DateTimeField(
        label="From",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time."},
    )
    end = forms.DateTimeField(
        label="To",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time."},
    )
    seed = PlainIntegerField(
        label="Seed",
        required=False,
        initial=1,
        min_value=0,
        max_value=2**62,
        help_text="The same seed and settings give the same report.",
        error_messages={"invalid": "Enter a whole number.", "min_value": "The seed cannot be negative."},
    )
    length = PlainIntegerField(
        label="Ticks to generate",
        required=False,
        initial=3600,
        min_value=200,
        # The most is a setting (BACKTEST_MAX_TICKS), checked by the service.
        error_messages={
            "invalid": "Enter a whole number.",
            "min_value": "Generate at least 200 ticks: the strategies need a window to vote.",
        },
    )
    starting_balance = _money("Starting balance", "1000.00")

    field_order = ["name", "market", "source", "start", "end", "seed", "length", "starting_balance"]

    def clean(self):
        data = super().clean()
        if data.get("source") == BacktestSource.RECORDED:
            start, end = data.get("start"), data.get("end")
            if start is None and "start" not in self._errors:
                self.add_error("start", "Enter when the period starts.")
            if end is None and "end" not in self._errors:
                self.add_error("end", "Enter when the period ends.")
            if start and end:
                if end <= start:
                    self.add_error("end", "The end must be after the start.")
                elif start > timezone.now():
                    self.add_error("start", "The period starts in the future: there are no ticks yet.")
        elif data.get("source") == BacktestSource.GENERATED:
            if data.get("seed") is None and "seed" not in self._errors:
                self.add_error("seed", "Enter a seed.")
            if data.get("length") is None and "length" not in self._errors:
                self.add_error("length", "Enter how many ticks to generate.")
        return data
