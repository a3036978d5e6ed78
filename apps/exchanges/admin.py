from django.contrib import admin

from .models import Candle, ExchangeConnection, SpotBot, SpotMarket, SpotOrder, SpotPosition


@admin.register(ExchangeConnection)
class ExchangeConnectionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "exchange", "paper", "label", "key_last4", "status", "removed_at"]
    list_filter = ["exchange", "paper", "status"]
    # The ciphertexts are never shown, even to staff.
    exclude = ["api_key_encrypted", "secret_encrypted", "passphrase_encrypted"]
    readonly_fields = ["user", "exchange", "paper", "key_last4", "created_at", "removed_at"]


@admin.register(SpotMarket)
class SpotMarketAdmin(admin.ModelAdmin):
    list_display = ["symbol", "exchange", "last_price", "min_notional", "amount_step", "polled_at", "poll_error"]
    list_filter = ["exchange", "active"]


@admin.register(SpotBot)
class SpotBotAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "market", "timeframe", "status", "status_reason", "errors_in_row"]
    list_filter = ["status", "timeframe"]
    raw_id_fields = ["user", "connection", "market"]


@admin.register(SpotPosition)
class SpotPositionAdmin(admin.ModelAdmin):
    list_display = ["id", "bot", "market", "status", "amount", "cost", "proceeds", "opened_at", "closed_at"]
    list_filter = ["status"]
    raw_id_fields = ["bot", "connection", "market"]


@admin.register(SpotOrder)
class SpotOrderAdmin(admin.ModelAdmin):
    list_display = ["client_order_id", "market", "side", "purpose", "amount", "filled", "status", "created_at"]
    list_filter = ["status", "side", "purpose"]
    raw_id_fields = ["connection", "bot", "position", "market"]


admin.site.register(Candle)
