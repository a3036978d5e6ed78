from django.contrib import admin, messages

from apps.audit.admin import ReadOnlyAdmin

from .models import Backtest, Bot, BotSkip, BotTrade, Decision, KillSwitch, RegimeRecord, StrategyConfig
from .services import bots_stop_by_staff, kill_switch_set


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    """Staff can see every bot and stop it; settings stay the trader's (edited through their pages, audited).

    Never deleted here: a bot's trades and skips go with it. Stopping is the
    staff's way to end one.
    """

    list_display = (
        "id",
        "name",
        "user",
        "market",
        "status",
        "stopped_reason",
        "trades_today",
        "today_pnl",
        "consecutive_losses",
        "open_contracts",
        "last_decision_at",
    )
    list_filter = ("status", "stopped_reason", "market")
    search_fields = ("name", "user__email", "=id")
    list_select_related = ("user", "market")
    actions = ("stop_bots", "engage_global_kill_switch", "release_global_kill_switch")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Stop the selected bots")
    def stop_bots(self, request, queryset):
        stopped = bots_stop_by_staff(bot_ids=list(queryset.values_list("pk", flat=True)), actor=request.user)
        self.message_user(request, f"Stopped {stopped} bot(s).")

    @admin.action(description="Engage the GLOBAL kill switch (stops every bot, refuses new bot trades)")
    def engage_global_kill_switch(self, request, queryset):
        stopped = kill_switch_set(engaged=True, actor=request.user, reason="Engaged from the admin", request=request)
        self.message_user(request, f"Global kill switch engaged: {stopped} bot(s) stopped.", messages.WARNING)

    @admin.action(description="Release the global kill switch (bots stay stopped until started)")
    def release_global_kill_switch(self, request, queryset):
        kill_switch_set(engaged=False, actor=request.user, request=request)
        self.message_user(request, "Global kill switch released.")


@admin.register(KillSwitch)
class KillSwitchAdmin(ReadOnlyAdmin):
    """Changed only through the bot admin's actions, the traders' pages or `manage.py bots kill-switch`."""

    list_display = ("__str__", "engaged", "reason", "changed_by", "changed_at")
    list_filter = ("engaged",)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("id", "market", "seq", "direction", "confidence", "regime", "decided_at", "executed_at")
    list_filter = ("direction", "regime", "market")
    list_select_related = ("market",)


@admin.register(BotTrade)
class BotTradeAdmin(ReadOnlyAdmin):
    list_display = ("id", "bot", "decision", "contract", "stake", "created_at")
    list_select_related = ("bot", "decision", "contract")
    search_fields = ("=bot__id", "bot__name")


@admin.register(BotSkip)
class BotSkipAdmin(ReadOnlyAdmin):
    list_display = ("bot", "day", "reason", "count", "last_detail", "last_at")
    list_filter = ("reason", "day")


@admin.register(RegimeRecord)
class RegimeRecordAdmin(ReadOnlyAdmin):
    list_display = ("market", "seq", "time", "kind", "confidence")
    list_filter = ("kind", "market")


@admin.register(StrategyConfig)
class StrategyConfigAdmin(ReadOnlyAdmin):
    list_display = ("key", "__str__", "min_agreeing", "min_confidence")


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "user", "market", "source", "status", "progress", "created_at")
    list_filter = ("status", "source")
