"""Spot bots: create, start and stop. A bot trades one pair on one connection, on 1m or 5m candles."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_log
from apps.billing.entitlements import limit_refusal
from apps.bots.engine.config import DecisionConfig
from apps.common.events import send_after_commit

from ..backtest import MAX_CANDLES, BacktestReport, spot_backtest
from ..engine import SpotRisk
from ..models import Candle, ConnectionStatus, ExchangeConnection, SpotBot, SpotBotStatus, SpotMarket
from ..signals import spot_changed

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
        send_after_commit(spot_changed, sender=SpotBot, user_ids=[user.pk])
    return bot


def spot_bot_stop(*, user, bot_id: int, request=None) -> SpotBot:
    with transaction.atomic():
        bot = SpotBot.objects.select_for_update().get(pk=bot_id, user=user)
        if bot.status == SpotBotStatus.RUNNING:
            bot.status, bot.status_reason = SpotBotStatus.STOPPED, "You stopped the bot; its positions stay open."
            bot.save()
            audit_log(actor=user, action="spot_bot.stop", target=bot, request=request)
            send_after_commit(spot_changed, sender=SpotBot, user_ids=[user.pk])
    return bot


def spot_bot_backtest(*, user, bot_id: int, days: int, starting_quote: Decimal) -> BacktestReport:
    """The bot's settings over its pair's recorded candles of the last `days` days (at most MAX_CANDLES of them)."""
    bot = SpotBot.objects.select_related("market").get(pk=bot_id, user=user)
    if not 1 <= days <= 7:
        raise ValidationError({"days": "Choose between 1 and 7 days of recorded candles."})
    if starting_quote < 100:
        raise ValidationError({"starting_quote": f"Start with at least 100 {bot.market.quote}."})
    since = timezone.now() - timedelta(days=days)
    rows = list(
        Candle.objects.filter(market=bot.market, timeframe=bot.timeframe, opened_at__gte=since)
        .order_by("opened_at")
        .values_list("opened_at", "close")[:MAX_CANDLES]
    )
    if not rows:
        raise ValidationError({"days": f"No {bot.timeframe} candles of {bot.market.symbol} are recorded yet."})
    market = bot.market
    return spot_backtest(
        candles=rows,
        config=DecisionConfig.from_stored(bot.strategies, bot.min_agreeing, bot.min_confidence),
        risk=SpotRisk.of(bot),
        starting_quote=starting_quote,
        amount_step=market.amount_step,
        min_notional=market.min_notional,
        fee_rate=market.taker_fee,
        slippage_pct=Decimal(django_settings.EXCHANGE_PAPER_SLIPPAGE_PCT),
        quote=market.quote,
    )
