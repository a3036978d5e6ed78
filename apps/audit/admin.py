from django.contrib import admin

from apps.common.admin import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "target_repr", "ip")
    list_filter = ("action", "target_type", "created_at")
    search_fields = ("action", "actor__email", "target_repr", "target_id", "ip")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
