from django.contrib import admin

from apps.common.admin import ReadOnlyAdmin

from .models import DerivAccount, DerivLink
from .services import deriv_accounts_deactivate, on_unlink


@admin.register(DerivLink)
class DerivLinkAdmin(ReadOnlyAdmin):
    """Link state for support staff; the token fields are never shown, not even encrypted.

    Never deleted here: a deleted link leaves its accounts looking connected.
    Staff unlink instead, as the trader's own "Unlink" does.
    """

    list_display = ("user", "connection", "reason", "scope", "expires_at", "synced_at", "updated_at")
    list_filter = ("connection",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    fields = ("user", "connection", "reason", "scope", "expires_at", "synced_at", "connection_changed_at")
    readonly_fields = fields
    actions = ("unlink",)

    @admin.action(description="Unlink Deriv (tokens dropped; accounts and history kept, no longer tradable)")
    def unlink(self, request, queryset):
        links = list(queryset.select_related("user"))
        for link in links:
            on_unlink(user=link.user, request=request)
        self.message_user(request, f"Unlinked {len(links)} Deriv link(s).")


@admin.register(DerivAccount)
class DerivAccountAdmin(ReadOnlyAdmin):
    """Never deleted here (a trading account without its Deriv row would look tradable): deactivated instead."""

    list_display = (
        "trading_account",
        "status",
        "connection",
        "reason",
        "balance_source",
        "balance_at",
        "deactivated_at",
    )
    list_filter = ("connection", "status")
    search_fields = ("trading_account__external_id", "trading_account__user__email")
    list_select_related = ("trading_account",)
    readonly_fields = (
        "trading_account",
        "link",
        "status",
        "connection",
        "reason",
        "balance_source",
        "balance_at",
        "deactivated_at",
    )
    actions = ("deactivate",)

    @admin.action(description="Deactivate (never tradable again; history kept)")
    def deactivate(self, request, queryset):
        ids = list(queryset.values_list("trading_account_id", flat=True))
        done = deriv_accounts_deactivate(account_ids=ids, actor=request.user, request=request)
        self.message_user(request, f"Deactivated {done} Deriv account(s).")
