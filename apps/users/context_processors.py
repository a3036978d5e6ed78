from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import self_exclusion_until


def self_exclusion(request: HttpRequest) -> dict:
    """The end of the trader's self-exclusion while it is in force (every page's banner); read only when shown."""
    user = getattr(request, "user", None)
    return {"self_excluded_until": SimpleLazyObject(lambda: self_exclusion_until(user))}
