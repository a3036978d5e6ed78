from django.http import HttpRequest
from django.utils import timezone

from .selectors import user_timezone


class UserTimezoneMiddleware:
    """Every date a signed-in trader sees is in their own time zone (Settings > Profile).

    Activates it for the request (templates' `date` filter and
    `timezone.localtime` follow it) and keeps it on `request.timezone` for
    code that needs it; signed-out visitors see UTC.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        zone = user_timezone(user) if user is not None and user.is_authenticated else timezone.get_default_timezone()
        request.timezone = zone
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
