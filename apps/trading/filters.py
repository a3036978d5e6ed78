"""The history page's filters: market, result, source (by hand or which bot), the days bought, and the sort.

The query string keeps the names the page has always used (`market` is a
symbol, `result` a status, `date_from`/`date_to` days). Days are whole days in
the current time zone, the end day included. `sort` takes one of the columns'
names (SORTS), `-` first for descending; anything else is an error next to the
filters, never a database field name passed through.
"""

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.markets.models import Market

from .models import Contract, Status

DATE_ERRORS = {"invalid": "Enter a date like 2026-01-31."}


MANUAL, ANY_BOT = "manual", "bots"


def source_choices(contracts: QuerySet[Contract]) -> list[tuple[str, str]]:
    """By hand, by any bot, or by one of the bots that bought these contracts (`bot-<id>`)."""
    bots = (
        contracts.filter(bot_trade__isnull=False)
        .order_by("bot_trade__bot__name", "bot_trade__bot_id")
        .values_list("bot_trade__bot_id", "bot_trade__bot__name")
        .distinct()
    )
    return [(MANUAL, "Manual"), (ANY_BOT, "Any bot"), *((f"bot-{pk}", name) for pk, name in bots)]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class HistoryFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


# The sortable columns: the name in `?sort=`, and the field it orders by.
SORTS = {
    "bought": "purchased_at",
    "market": "market__name",
    "stake": "stake",
    "result": "status",
    "paid": "amount_paid",
    "pnl": "pnl",
}


class HistoryOrdering(django_filters.OrderingFilter):
    def filter(self, qs, value):
        # Equal values keep the newest first, so pages do not shuffle rows between them.
        if not value:
            return qs
        ordered = super().filter(qs, value)
        return ordered.order_by(*ordered.query.order_by, "-purchased_at", "-id")


class HistoryFilter(django_filters.FilterSet):
    market = django_filters.ModelChoiceFilter(
        queryset=Market.objects.all(),
        to_field_name="symbol",
        empty_label="All markets",
        error_messages={"invalid_choice": "That market does not exist."},
    )
    result = django_filters.ChoiceFilter(
        field_name="status",
        label="Result",
        choices=Status.choices,
        empty_label="All results",
        error_messages={"invalid_choice": "Choose one of the results."},
    )
    source = django_filters.ChoiceFilter(
        method="bought_by",
        label="Source",
        empty_label="All sources",
        error_messages={"invalid_choice": "Choose one of the sources."},
    )
    date_from = django_filters.DateFilter(
        method="bought_from", label="From", widget=forms.DateInput(attrs={"type": "date"}), error_messages=DATE_ERRORS
    )
    date_to = django_filters.DateFilter(
        method="bought_to", label="To", widget=forms.DateInput(attrs={"type": "date"}), error_messages=DATE_ERRORS
    )

    sort = HistoryOrdering(
        fields={field: name for name, field in SORTS.items()},
        error_messages={"invalid_choice": "Sort by one of the columns."},
    )

    class Meta:
        model = Contract
        fields = ["market", "result", "source", "date_from", "date_to"]
        form = HistoryFilterForm

    def __init__(self, data=None, queryset=None, **kwargs):
        # The P&L column sorts on what a contract made (NULL while it is open).
        if queryset is not None:
            queryset = queryset.annotate(pnl=F("amount_paid") - F("stake"))
        super().__init__(data, queryset=queryset, **kwargs)
        self.filters["source"].extra["choices"] = source_choices(self.queryset)

    def bought_by(self, queryset: QuerySet[Contract], name: str, value: str) -> QuerySet[Contract]:
        if value == MANUAL:
            return queryset.filter(bot_trade__isnull=True)
        if value == ANY_BOT:
            return queryset.filter(bot_trade__isnull=False)
        return queryset.filter(bot_trade__bot_id=int(value.removeprefix("bot-")))

    def bought_from(self, queryset: QuerySet[Contract], name: str, value: date) -> QuerySet[Contract]:
        return queryset.filter(purchased_at__gte=_day_start(value))

    def bought_to(self, queryset: QuerySet[Contract], name: str, value: date) -> QuerySet[Contract]:
        return queryset.filter(purchased_at__lt=_day_start(value + timedelta(days=1)))

    @property
    def contracts(self) -> QuerySet[Contract]:
        """The filtered contracts; none while a filter is invalid, rather than a list filtered on part of them."""
        if self.is_bound and not self.is_valid():
            return self.queryset.none()
        return self.qs
