"""The app owner's markup at Deriv (what Deriv pays the platform on contracts bought through its app).

Read with the app owner's token (settings.DERIV["APP_TOKEN"], env DERIV_APP_TOKEN, scope
`application_read`): never logged, never shown. Calls count against their own REST budget (Deriv's
limit is per user; the app owner is not a Nexus trader), and a success is kept a minute so that
staff reloading the page do not spend it.
"""

import logging
import threading
from datetime import date

from django.conf import settings
from django.core.cache import cache

from apps.revenue.reports import Section

from . import adapter, budget, rest
from .errors import DerivError, RateLimit

log = logging.getLogger(__name__)

CACHE_S = 60
TITLE = "Deriv app markup"
TEMPLATE = "revenue/staff_deriv_markup.html"

_budget: budget.Budget | None = None
_lock = threading.Lock()


class MarkupUnavailable(Exception):
    """Deriv's figures cannot be had: the message says why, in staff's words."""


def app_budget() -> budget.Budget:
    global _budget
    with _lock:
        if _budget is None:
            _budget = budget.Budget({budget.REST: budget.limits()[budget.REST]}, name="REST app owner")
        return _budget


def markup_statistics(*, date_from: date, date_to: date) -> adapter.MarkupStatistics:
    """Deriv's markup statistics for the days from `date_from` to `date_to`, both included.

    Raises MarkupUnavailable when Deriv is off or no app owner's token is set, and DerivError when
    Deriv refuses or does not answer. Never inside a transaction (an HTTP round trip).
    """
    if not settings.DERIV.get("ENABLED"):
        raise MarkupUnavailable("Deriv is off here (DERIV_ENABLED), so there are no Deriv figures.")
    token = settings.DERIV.get("APP_TOKEN") or ""
    if not token:
        raise MarkupUnavailable("No app owner's token is set (DERIV_APP_TOKEN, scope application_read).")
    key = f"deriv:markup:{date_from.isoformat()}:{date_to.isoformat()}"
    if (cached := cache.get(key)) is not None:
        return cached
    limiter = app_budget()
    limiter.take(budget.REST, group=budget.REST)
    client = rest.DerivRest(token, base_url=settings.DERIV["REST_BASE"], app_id=settings.DERIV.get("APP_ID") or None)
    try:
        stats = client.markup_statistics(date_from, date_to)
    except RateLimit as error:
        if not isinstance(error, budget.OverBudget):
            limiter.refused(budget.REST, group=budget.REST)
        raise
    cache.set(key, stats, CACHE_S)
    return stats


def markup_section(*, date_from: date, date_to: date) -> Section:
    """The staff revenue page's Deriv section: the figures, or why there are none (never a made-up number)."""
    try:
        stats = markup_statistics(date_from=date_from, date_to=date_to)
    except MarkupUnavailable as why:
        return Section(TITLE, TEMPLATE, {"problem": str(why)})
    except DerivError as error:
        log.warning("Deriv markup statistics failed: %s %s", type(error).__name__, error.code)
        return Section(
            TITLE,
            TEMPLATE,
            {"problem": f"Deriv's figures are not available right now ({error.code or type(error).__name__})."},
        )
    return Section(TITLE, TEMPLATE, {"stats": stats})
