from django.core.cache import caches
from django.http import HttpRequest

from .cache import DegradingRedisCache


def live_updates_unavailable() -> bool:
    """True when the Redis that carries live updates (the channel layer, the cache, the task queue) is out of reach.

    Asked of the cache, which shares that Redis: at most one PING every few
    seconds per process (apps/common/cache.py). Without Redis configured
    (development) live updates run in memory and this is False.
    """
    cache = caches["default"]
    return isinstance(cache, DegradingRedisCache) and not cache.reachable()


def live_updates(request: HttpRequest) -> dict:
    # A callable: templates call it only on pages that show the notice.
    return {"live_updates_unavailable": live_updates_unavailable}


# The menu entry each page belongs to, by (URL namespace, URL name): exact names,
# so "new" (a bot) is not mistaken for "backtest_new".
NAV_SECTIONS = {
    ("dashboard", "home"): "dashboard",
    ("trading", "trade"): "trade",
    ("trading", "contract"): "history",
    ("trading", "history"): "history",
    ("bots", "list"): "bots",
    ("bots", "new"): "bots",
    ("bots", "detail"): "bots",
    ("bots", "edit"): "bots",
    ("bots", "signals"): "signals",
    ("bots", "backtests"): "backtests",
    ("bots", "backtest_new"): "backtests",
    ("bots", "backtest"): "backtests",
    ("exchanges", "list"): "exchanges",
    ("exchanges", "portfolio"): "exchanges",
    ("exchanges", "bot_new"): "exchanges",
    ("exchanges", "bot"): "exchanges",
    ("markets", "feed_status"): "feeds",
    ("revenue", "referrals"): "referrals",
}


def nav_section(request: HttpRequest) -> dict:
    """The main menu's entry for this page (marked aria-current), or None."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {"nav_section": None}
    if match.namespace == "settings":
        return {"nav_section": "settings"}
    return {"nav_section": NAV_SECTIONS.get((match.namespace, match.url_name))}
