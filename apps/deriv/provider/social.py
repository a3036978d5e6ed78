"""allauth's social-account adapter: where a Deriv sign-in turns into a stored link.

Three moments store the (already encrypted) tokens and bring in the accounts:
an existing identity signing in (`pre_social_login`), a first sign-in once its
sign-up form is saved (`save_user`), and a "Link Deriv account" from a signed-in
trader (the `social_account_added` signal, see signals.py).
"""

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthError, AuthProcess
from django.contrib import messages
from django.shortcuts import redirect

from apps.deriv import rest, services
from apps.deriv.errors import DerivError, InvalidGrant

from .views import DerivLoginError

log = logging.getLogger(__name__)


def _is_deriv(sociallogin) -> bool:
    return sociallogin.account.provider == services.PROVIDER


class DerivSocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request, sociallogin) -> None:
        super().pre_social_login(request, sociallogin)
        if not _is_deriv(sociallogin) or not sociallogin.is_existing:
            return
        if sociallogin.state.get("process") == AuthProcess.CONNECT and sociallogin.user != request.user:
            return  # allauth refuses: this Deriv identity belongs to another trader
        services.deriv_link_from_login(sociallogin=sociallogin, request=request)

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        if _is_deriv(sociallogin):
            services.deriv_link_from_login(sociallogin=sociallogin, request=request)
        return user

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        if getattr(provider, "id", None) != services.PROVIDER:
            return super().on_authentication_error(request, provider, error, exception, extra_context)
        reason, code = sign_in_error(request, error, exception, extra_context or {})
        log.warning("Deriv sign-in failed: %s", code)
        # A redirect, not a page: the browser leaves the callback URL (code and state in its
        # query) behind, and the reason shows on the page the trader started from.
        messages.error(request, reason)
        raise ImmediateHttpResponse(redirect("deriv:accounts" if request.user.is_authenticated else "account_login"))


def sign_in_error(request, error, exception, extra_context: dict) -> tuple[str, str]:
    """(what the trader reads, what the log says) for a failed Deriv sign-in."""
    if "state_id" in extra_context and extra_context.get("state") is None and exception is None:
        return (
            "This sign-in attempt is unknown, expired or was already used. Start again from the sign-in page.",
            "unknown or reused state",
        )
    if error == AuthError.CANCELLED:
        return "You cancelled at Deriv: nothing was linked.", "access_denied"
    if isinstance(exception, DerivLoginError):
        deriv_error = exception.error
        if isinstance(deriv_error, InvalidGrant):
            return (
                "Deriv did not accept the sign-in (it expired or was already used). Please try again.",
                deriv_error.code,
            )
        if isinstance(deriv_error, DerivError):
            return services.reason_for(deriv_error), deriv_error.code
        return f"Deriv sign-in failed: {exception}.", "no accounts or verifier"
    callback = rest.callback_error(request.GET)
    if callback is not None:
        return f"Deriv refused the sign-in ({callback.code}).", callback.code
    return "Deriv sign-in failed. Please try again.", type(exception).__name__ if exception else str(error)
