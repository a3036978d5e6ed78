"""Per-user rate limits on writes, counted in the cache (the shared Redis in production).

`settings.RATE_LIMITS` maps a scope (purchases, demo resets, ...) to
"count/period". Each write a user makes in a scope counts in a fixed window
of that period (one cache key per user, scope and window, an atomic INCR on
Redis); past the count, the view is not called and the user gets a 429 with
a message saying what and for how long: a toast for htmx, the page itself
otherwise. Checks that save nothing (GET, or a form's `validate=1` post) are
not counted.
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

logger = logging.getLogger(__name__)

UNITS = {"s": (1, "a second"), "m": (60, "a minute"), "h": (3600, "an hour"), "d": (86400, "a day")}
# What each scope counts, in a trader's words.
SCOPE_WORDS = {
    "purchases": "purchases",
    "demo_resets": "demo account resets",
    "bot_writes": "changes to bots (creating, editing, starting)",
    "backtests": "backtests",
    "deriv_refresh": "refreshes from Deriv",
    "exchange_connects": "exchange keys tried",
}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int
    per: str

    @classmethod
    def parse(cls, text: str) -> "Rate":
        count, unit = text.split("/")
        seconds, per = UNITS[unit]
        return cls(int(count), seconds, per)


def rate_limit_hit(*, scope: str, user_id: int, now: float | None = None) -> int | None:
    """Count one write of the user in the scope: None when it is allowed, else the seconds until it would be.

    When the cache cannot be reached the write is allowed (and logged): a
    limit must not turn a working action into an error page.
    """
    rate = Rate.parse(settings.RATE_LIMITS[scope])
    now = time.time() if now is None else now
    window = int(now // rate.seconds)
    key = f"ratelimit:{scope}:{user_id}:{window}"
    try:
        cache.add(key, 0, timeout=rate.seconds + 1)
        count = cache.incr(key)
    except Exception:
        logger.warning("rate limit %s not checked: the cache did not answer", scope, exc_info=True)
        return None
    if count <= rate.count:
        return None
    return max(1, math.ceil((window + 1) * rate.seconds - now))


def rate_limit_message(*, scope: str, wait_s: int) -> str:
    rate = Rate.parse(settings.RATE_LIMITS[scope])
    if wait_s < 120:
        wait = f"{wait_s} second{'s' if wait_s != 1 else ''}"
    else:
        minutes = math.ceil(wait_s / 60)
        wait = f"{minutes} minutes"
    return f"Too many {SCOPE_WORDS[scope]}: at most {rate.count} {rate.per}. Try again in {wait}."


def rate_limited_response(request: HttpRequest, *, message: str, wait_s: int) -> HttpResponse:
    """A 429 saying why: a toast for htmx (whatever the request targeted), else a page with a way back."""
    if request.htmx:
        response = render(request, "common/rate_limited.html#toast", {"message": message}, status=429)
        response["HX-Retarget"] = "#toasts"
        response["HX-Reswap"] = "beforeend"
    else:
        back = request.headers.get("referer", "")
        secure = request.is_secure()
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=secure):
            back = "/"
        response = render(request, "common/rate_limited.html", {"message": message, "back": back}, status=429)
    response["Retry-After"] = str(wait_s)
    return response


def rate_limited(scope: str):
    """Limit a view's writes per user (`settings.RATE_LIMITS[scope]`); put it under `login_required`."""
    if scope not in SCOPE_WORDS:
        raise ValueError(f"unknown rate limit scope {scope!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            writes = request.method == "POST" and request.POST.get("validate") != "1"
            if writes and request.user.is_authenticated:
                wait_s = rate_limit_hit(scope=scope, user_id=request.user.pk)
                if wait_s is not None:
                    logger.info("user %s over the %s rate limit", request.user.pk, scope)
                    message = rate_limit_message(scope=scope, wait_s=wait_s)
                    return rate_limited_response(request, message=message, wait_s=wait_s)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
