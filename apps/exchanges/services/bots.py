"""Spot bots: create, start and stop. A bot trades one pair on one connection, on 1m or 5m candles."""

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_log
from apps.billing.entitlements import limit_refusal

from ..models import ConnectionStatus, ExchangeConnection, SpotBot, SpotBotStatus, SpotMarket

# Fields a trader sets on a spot bot.
SPOT_BOT_FIELDS = (
    "name",
    "timeframe",
    "strategies",
    "min_agreeing",
    "min_confidence",
    "blocked_regimes",
    "position_pct",
    "max_open_positions",
    "stop_loss_pct",
    "take_profit_pct",
    "pyramiding",
    "max_adds",
    "add_spacing_pct",
)


def spot_bot_create(
    *, user, connection: ExchangeConnection, market: SpotMarket, settings: dict, request=None
) -> SpotBot:
    if connection.user_id != user.pk or connection.removed_at is not None:
        raise ValidationError({"connection": "Choose one of your exchange connections."})
    if market.exchange != connection.exchange or not market.active:
        raise ValidationError({"market": f"{connection.get_exchange_display()} does not list {market.symbol}."})
    with transaction.atomic():
        bot = SpotBot.objects.create(
            user=user, connection=connection, market=market, **{k: settings[k] for k in SPOT_BOT_FIELDS}
        )
        audit_log(actor=user, action="spot_bot.create", target=bot, request=request)
    return bot


def spot_bot_start(*, user, bot_id: int, request=None) -> SpotBot:
    with transaction.atomic():
        bot = SpotBot.objects.select_for_update().select_related("connection", "market").get(pk=bot_id, user=user)
        if bot.status == SpotBotStatus.RUNNING:
            return bot
        if bot.connection.removed_at is not None:
            raise ValidationError("Its exchange connection was removed.")
        if bot.connection.status == ConnectionStatus.REFUSED:
            raise ValidationError(f"The exchange refused this connection's key: {bot.connection.status_reason}")
        running = SpotBot.objects.filter(user=user, status=SpotBotStatus.RUNNING).count()
        if refusal := limit_refusal(user, "max_running_bots", wanted=running + 1):
            raise refusal.error()
        bot.status, bot.status_reason, bot.errors_in_row, bot.last_skip = SpotBotStatus.RUNNING, "", 0, ""
        bot.peak_equity = None
        bot.save()
        audit_log(actor=user, action="spot_bot.start", target=bot, request=request)
    return bot


def spot_bot_stop(*, user, bot_id: int, request=None) -> SpotBot:
    with transaction.atomic():
        bot = SpotBot.objects.select_for_update().get(pk=bot_id, user=user)
        if bot.status == SpotBotStatus.RUNNING:
            bot.status, bot.status_reason = SpotBotStatus.STOPPED, "You stopped the bot; its positions stay open."
            bot.save()
            audit_log(actor=user, action="spot_bot.stop", target=bot, request=request)
    return bot
