"""Staff reach the admin only signed in through allauth with a second factor.

Every user may set up two-factor authentication (allauth MFA: an
authenticator app, with recovery codes). For staff it is required before any
admin page, and before any staff page outside the admin (`staff_required`):

- the admin's own login form is never shown: it sends people to allauth's
  sign-in, so the admin gets allauth's rate limits and second-factor step,
  and failed attempts stop once the limits bite (each one is audited);
- a staff user without two-factor is sent to set it up;
- a staff user with it, whose session has no second-factor step (signed in
  some other way, or before it was set up), is asked for a code first.

allauth records each authentication step of a session (method "mfa" for a
TOTP or recovery code, at sign-in or on re-authentication); that record is
what this middleware checks.
"""

import functools
from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

ADMIN_NAMESPACE = "admin"


def mfa_verified(request: HttpRequest) -> bool:
    """Whether this session's signed-in user passed a second factor in it."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


def _to(url_name: str, next_url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse(url_name)}?{urlencode({'next': next_url})}")


class StaffMFAMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or match.namespace != ADMIN_NAMESPACE:
            return None
        next_url = request.get_full_path()
        if match.url_name == "login":
            # The admin's login page only forwards to where it was asked to go.
            wanted = request.GET.get("next", "")
            safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure())
            next_url = wanted if wanted and safe else reverse("admin:index")
        if refusal := staff_refusal(request, next_url=next_url):
            return refusal
        if match.url_name == "login":
            return HttpResponseRedirect(next_url)
        return None


def staff_refusal(request: HttpRequest, *, next_url: str) -> HttpResponseRedirect | None:
    """Where a request for a staff page goes first (sign in, set up or enter a second factor), or None: it may open it.

    Raises PermissionDenied for a signed-in user who is not staff.
    """
    user = request.user
    if not user.is_authenticated:
        return _to("account_login", next_url)
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("This page is for staff.")
    if not is_mfa_enabled(user):
        messages.info(request, "Staff accounts need two-factor authentication: set up an authenticator app first.")
        return _to("mfa_activate_totp", next_url)
    if not mfa_verified(request):
        messages.info(request, "Enter a code from your authenticator app to open staff pages.")
        return _to("mfa_reauthenticate", next_url)
    return None


def staff_required(view):
    """A staff page outside the admin: the admin's gate (staff, signed in with a second factor in this session)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return staff_refusal(request, next_url=request.get_full_path()) or view(request, *args, **kwargs)

    return wrapper
