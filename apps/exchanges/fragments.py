"""Exchange fragments pushed live: each connection's portfolio (equity, balances, open positions) and each spot
bot's status. The pages render the same partials with the same context, swapped in by id."""

from decimal import Decimal

from django.template.loader import render_to_string

from apps.bots.selectors import engaged_switches

from . import selectors
from .models import SpotBot, SpotBotStatus
from .services.feed import stale_reason


def kill_switch_on(user) -> bool:
    engaged = engaged_switches()
    return None in engaged or user.pk in engaged


def portfolio_live_context(connection) -> dict:
    """The portfolio's live part: equity, balances and open positions, with a version of the trades below it
    (the page reloads its closed trades and orders when the version moves)."""
    closed = selectors.closed_positions(connection=connection, limit=1)
    orders = selectors.orders_of(connection=connection, limit=1)
    last_order = f"{orders[0].pk}.{orders[0].status}" if orders else "0"
    held = selectors.open_positions(connection=connection)
    balances = selectors.balances_of(connection=connection)
    return {
        "connection": connection,
        # What `equity_of` reads, from the balances already read.
        "equity": sum((b.value for b in balances if b.value is not None), Decimal("0")),
        "balances": balances,
        "fees": selectors.fees_paid(connection=connection),
        "held": held,
        "unrealised": sum((row.unrealised for row in held if row.unrealised is not None), Decimal("0")),
        "history_version": f"{closed[0].pk if closed else 0}-{last_order}",
    }


def bot_live_context(bot: SpotBot) -> dict:
    """A spot bot's live part: status, why, the last skipped candle, the pair's freshness, its open positions."""
    held, _ = selectors.bot_positions(bot=bot, limit=0)
    paused = stale_reason(market=bot.market, timeframe=bot.timeframe) if bot.status == SpotBotStatus.RUNNING else ""
    orders = selectors.orders_of(connection=bot.connection, bot=bot, limit=1)
    return {
        "bot": bot,
        "held_count": len(held),
        "paused": paused,
        "version": f"{bot.status}-{bot.decided_until and bot.decided_until.isoformat()}-{len(held)}-"
        f"{orders[0].pk if orders else 0}",
    }


def exchange_fragments(user) -> dict[str, str]:
    """Each of the trader's connections' portfolio part (`exchange.<id>`) and spot bots' status (`spotbot.<id>`)."""
    parts = {
        f"exchange.{connection.pk}": render_to_string(
            "exchanges/_portfolio_live.html", portfolio_live_context(connection) | {"oob": True}
        )
        for connection in selectors.connections_of(user=user)
    }
    for bot in selectors.spot_bots_of(user=user):
        parts[f"spotbot.{bot.pk}"] = render_to_string(
            "exchanges/_bot_status.html", bot_live_context(bot) | {"oob": True, "error": None}
        )
    return parts
