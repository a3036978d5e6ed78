from django.contrib import admin

from apps.common.admin import ReadOnlyAdmin

from .models import Entry, LedgerAccount, Transfer


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "kind", "realm", "currency", "balance", "owner")
    list_filter = ("kind", "realm", "currency")
    search_fields = ("code", "name", "owner__email")
    list_select_related = ("owner",)


class EntryInline(admin.TabularInline):
    model = Entry
    extra = 0
    can_delete = False
    readonly_fields = ("account", "amount", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "amount", "currency", "debit", "credit", "reference")
    list_filter = ("kind", "currency", "created_at")
    search_fields = ("idempotency_key", "reference", "debit__code", "credit__code")
    date_hierarchy = "created_at"
    list_select_related = ("debit", "credit")
    inlines = [EntryInline]


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "amount", "transfer")
    list_filter = ("account__kind", "account__realm")
    search_fields = ("account__code", "transfer__idempotency_key", "transfer__reference")
    list_select_related = ("account", "transfer")
