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
