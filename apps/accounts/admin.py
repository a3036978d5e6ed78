from django.contrib import admin

from .models import TradingAccount


@admin.register(TradingAccount)
class TradingAccountAdmin(admin.ModelAdmin):
    list_display = ("label", "user", "type", "currency", "balance", "is_selected", "external_id", "created_at")
    list_filter = ("type", "currency", "is_selected")
    search_fields = ("user__email", "label", "external_id")
    list_select_related = ("user", "ledger_account")
    # Money lives in the ledger account and moves only through ledger
    # transfers; an account's owner, kind and currency are fixed at opening.
    readonly_fields = (
        "user",
        "type",
        "currency",
        "ledger_account",
        "balance",
        "external_id",
        "is_selected",
        "created_at",
    )
    fields = ("label", *readonly_fields)

    @admin.display(description="Balance", ordering="ledger_account__balance")
    def balance(self, obj: TradingAccount):
        return obj.ledger_account.balance

    def has_add_permission(self, request):
        # Accounts are opened through services, which fund them through the ledger.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
