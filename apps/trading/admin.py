from django.contrib import admin

from apps.audit.admin import ReadOnlyAdmin

from .models import Contract


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    """Read-only: contracts change only through the buy and settlement services, with their ledger transfers."""

    list_display = (
        "id",
        "user",
        "market",
        "direction",
        "stake",
        "payout",
        "duration",
        "status",
        "entry_spot",
        "exit_spot",
        "amount_paid",
        "purchased_at",
        "settled_at",
    )
    list_filter = ("status", "market", "direction", "duration_unit")
    date_hierarchy = "purchased_at"
    search_fields = ("user__email", "=id")
    list_select_related = ("user", "market")

    @admin.display(description="Duration", ordering="duration")
    def duration(self, obj: Contract) -> str:
        return obj.duration_label
