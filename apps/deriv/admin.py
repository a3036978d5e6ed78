from django.contrib import admin

from .models import DerivAccount, DerivLink


@admin.register(DerivLink)
class DerivLinkAdmin(admin.ModelAdmin):
    """Link state for support staff; the token fields are never shown, not even encrypted."""

    list_display = ("user", "connection", "reason", "scope", "expires_at", "synced_at", "updated_at")
    list_filter = ("connection",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "connection", "reason", "scope", "expires_at", "synced_at", "connection_changed_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DerivAccount)
class DerivAccountAdmin(admin.ModelAdmin):
    list_display = ("trading_account", "status", "connection", "reason", "balance_source", "balance_at")
    list_filter = ("connection", "status")
    search_fields = ("trading_account__external_id", "trading_account__user__email")
    list_select_related = ("trading_account",)
    readonly_fields = ("trading_account", "link", "status", "connection", "reason", "balance_source", "balance_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
