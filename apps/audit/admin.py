from django.contrib import admin

from .models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to staff, never edited through the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "target_repr", "ip")
    list_filter = ("action", "target_type", "created_at")
    search_fields = ("action", "actor__email", "target_repr", "target_id", "ip")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
