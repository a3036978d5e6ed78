from django.contrib import admin, messages

from apps.audit.services import audit_log

from .email import outbox_retry
from .models import Notification, NotificationPreferences, OutboxEmail, SilenceAlert


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "title", "read_at")
    list_filter = ("kind", "created_at")
    search_fields = ("user__email", "title", "body")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = ("created_at",)


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """Staff see every email and why one failed; "send again" gives a failed one a fresh set of attempts."""

    list_display = ("created_at", "to", "subject", "topic", "status", "attempts", "next_attempt_at", "last_error")
    list_filter = ("status", "topic", "created_at")
    search_fields = ("to", "subject", "user__email")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = [f.name for f in OutboxEmail._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send the failed emails again")
    def send_again(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        count = outbox_retry(ids)
        audit_log(actor=request.user, action="notifications.outbox_retry", request=request, data={"ids": ids})
        self.message_user(request, f"{count} failed email(s) queued again.", messages.SUCCESS)


@admin.register(NotificationPreferences)
class NotificationPreferencesAdmin(admin.ModelAdmin):
    list_display = ("user", "contract_results", "bot_stopped", "daily_summary", "low_balance", "security")
    search_fields = ("user__email",)
    raw_id_fields = ("user",)


@admin.register(SilenceAlert)
class SilenceAlertAdmin(admin.ModelAdmin):
    list_display = ("check_name", "problem", "since")
