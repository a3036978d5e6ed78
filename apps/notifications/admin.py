from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "title", "read_at")
    list_filter = ("kind", "created_at")
    search_fields = ("user__email", "title", "body")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = ("created_at",)
