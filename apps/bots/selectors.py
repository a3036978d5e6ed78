"""Reads for the bots pages."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from apps.markets.models import Market

from .engine import risk
from .models import Backtest, Bot, BotSkip, BotTrade, Decision, RegimeRecord
from .services import default_config, today


def bots_for(*, user) -> list[Bot]:
    """The trader's bots, each with today's figures rolled to today (`today_pnl`, `trades_today`)."""
    bots = list(Bot.objects.filter(user=user).select_related("market", "account", "config"))
    day = today()
    for bot in bots:
        fresh = bot.day is None or bot.day < day
        bot.trades_today_now = 0 if fresh else bot.trades_today
        bot.today_pnl_now = Decimal("0.00") if fresh else bot.today_pnl
    return bots


def bot_for(*, user, bot_id: int) -> Bot:
    """The trader's bot, or Bot.DoesNotExist (a 404 in views) for anyone else's."""
    return Bot.objects.select_related("market", "account", "config").get(pk=bot_id, user=user)


def bot_trades(*, bot: Bot, limit: int = 50) -> list[BotTrade]:
    """The bot's latest trades with their decision (votes, regime) and contract (result)."""
    return list(bot.trades.select_related("decision", "contract").order_by("-id")[:limit])


def bot_skips(*, bot: Bot, days: int = 7) -> list[BotSkip]:
    return list(bot.skips.order_by("-day", "reason")[: days * 4])


@dataclass
class BotStats:
    trades: int
    wins: int
    losses: int
    net: Decimal


def bot_stats(*, bot: Bot) -> BotStats:
    figures = bot.trades.aggregate(
        trades=Count("id"),
        wins=Count("id", filter=Q(contract__status="WON")),
        losses=Count("id", filter=Q(contract__status="LOST")),
        paid=Sum("contract__amount_paid", filter=~Q(contract__status="OPEN")),
        staked=Sum("stake", filter=~Q(contract__status="OPEN")),
    )
    net = (figures["paid"] or Decimal("0")) - (figures["staked"] or Decimal("0"))
    return BotStats(figures["trades"], figures["wins"], figures["losses"], net)


@dataclass
class MarketSignal:
    market: Market
    decision: Decision | None
    regime: RegimeRecord | None


def market_signals(market: Market) -> MarketSignal:
    """The latest decision of the default configuration (all four strategies) and regime on a market."""
    decision = Decision.objects.filter(market=market, config=default_config()).order_by("-seq").first()
    regime = RegimeRecord.objects.filter(market=market).order_by("-seq").first()
    return MarketSignal(market, decision, regime)


def signals_overview() -> list[MarketSignal]:
    return [market_signals(m) for m in Market.objects.filter(is_active=True).order_by("name")]


def backtests_for(*, user) -> list[Backtest]:
    return list(Backtest.objects.filter(user=user).select_related("market"))


def stop_labels() -> dict[str, str]:
    return {reason.value: reason.label for reason in risk.StopReason}
