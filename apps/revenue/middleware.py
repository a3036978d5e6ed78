"""The partner's link a visitor followed, kept in a signed cookie until they sign up.

A visitor arriving with `?ref=<code>` on any page (or through `/r/<code>/`,
which redirects to the sign-up page with it) gets a signed, HttpOnly,
SameSite=Lax cookie holding the code and the time of that first touch. The
first touch wins: an unexpired cookie is never replaced, and signed-in users
get none. The cookie rides along through the email-verification and the
Deriv OAuth round trips; at sign-up `receivers.py` reads it, attributes the
new trader and asks for it to be deleted (`forget_touch`).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.utils import timezone

from .services import FIRST_TOUCH_WINDOW

COOKIE_NAME = "nexus_ref"
COOKIE_SALT = "apps.revenue.referral"
# What a link may carry as a code: anything else is ignored, not stored.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
_FORGET = "_referral_forget"


@dataclass(frozen=True)
class Touch:
    """A partner's link followed: the code as written in it, and when it was first followed."""

    code: str
    touched_at: datetime

    @property
    def expired(self) -> bool:
        return timezone.now() - self.touched_at > FIRST_TOUCH_WINDOW


def referral_touch(request) -> Touch | None:
    """The link this browser followed first, from its signed cookie; None without one (or a forged one)."""
    try:
        value = request.get_signed_cookie(COOKIE_NAME, salt=COOKIE_SALT)
    except (KeyError, signing.BadSignature):
        return None
    code, _, stamp = value.partition("|")
    try:
        touched_at = datetime.fromtimestamp(int(stamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if not CODE_PATTERN.match(code):
        return None
    return Touch(code, touched_at)


def forget_touch(request) -> None:
    """Ask for this browser's referral cookie to go with the response (it has been used)."""
    setattr(request, _FORGET, True)


def _remember(response, code: str, now: datetime) -> None:
    response.set_signed_cookie(
        COOKIE_NAME,
        f"{code}|{int(now.timestamp())}",
        salt=COOKIE_SALT,
        max_age=int(FIRST_TOUCH_WINDOW.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


class ReferralCookieMiddleware:
    """Keeps the first partner's link an anonymous visitor follows, and forgets it once used."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, _FORGET, False):
            response.delete_cookie(COOKIE_NAME, samesite="Lax")
            return response
        code = request.GET.get("ref", "").strip()
        if not code or not CODE_PATTERN.match(code):
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return response  # a partner trying their own link while signed in, or a trader: no new touch
        touch = referral_touch(request)
        if touch is None or touch.expired:
            _remember(response, code, timezone.now())
        return response
