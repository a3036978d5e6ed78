from django.contrib import admin

from apps.audit.services import audit_log
from apps.common.admin import ReadOnlyAdmin

from .models import Candle, Market, Tick


def _plain(value):
    """A form value as audit data can store it: JSON has no Decimal."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "name",
        "source",
        "is_active",
        "volatility_mode",
        "trend_bias",
        "payout_percent",
        "min_stake",
        "max_stake",
        "tick_interval_ms",
        "tie_rule",
        "last_price",
        "last_tick_at",
    )
    list_display_links = ("symbol",)
    # The feed re-reads these every few seconds: changes apply without a restart.
    list_editable = ("is_active", "volatility_mode", "trend_bias", "payout_percent")
    list_filter = ("source", "is_active", "volatility_mode", "tie_rule")
    search_fields = ("symbol", "name")
    # Written only by the feed, with each tick.
    readonly_fields = ("last_price", "last_tick_at", "last_seq")
    fieldsets = (
        (None, {"fields": ("symbol", "name", "source", "is_active")}),
        (
            "Price generator",
            {
                "fields": ("base_price", "decimals", "volatility_mode", "trend_bias", "seed"),
                "description": "The live feed draws every step from the operating system's random source, so "
                "prices cannot be predicted; the seed only replays a series in tests.",
            },
        ),
        ("Trading", {"fields": ("tick_interval_ms", "payout_percent", "min_stake", "max_stake", "tie_rule")}),
        ("Last tick", {"fields": ("last_price", "last_tick_at", "last_seq")}),
    )

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: a market's ticks, candles and contracts are history.
        return False

    def save_model(self, request, obj, form, change):
        """Save, then record who changed what, from the form's initial values (before) and cleaned data (after).

        The change list's editable columns come through here too, one form per changed row.
        """
        changed = {
            name: [_plain(form.initial.get(name)), _plain(form.cleaned_data[name])] for name in form.changed_data
        }
        super().save_model(request, obj, form, change)
        if change and not changed:
            return
        audit_log(
            actor=request.user,
            action="market.change" if change else "market.add",
            target=obj,
            request=request,
            data={"changed": changed},
        )


@admin.register(Tick)
class TickAdmin(ReadOnlyAdmin):
    list_display = ("market", "seq", "time", "price")
    list_filter = ("market",)
    date_hierarchy = "time"
    list_select_related = ("market",)
    # Newest first by primary key: the table is large, and the default
    # ordering (through the market) would sort all of it.
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("market", "timeframe", "start", "open", "high", "low", "close", "tick_count")
    list_filter = ("market", "timeframe")
    date_hierarchy = "start"
    list_select_related = ("market",)
    ordering = ("-start", "market", "timeframe")
    show_full_result_count = False
