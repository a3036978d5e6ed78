"""The OAuth2 adapter behind /accounts/deriv/login/ and /accounts/deriv/login/callback/.

allauth does the per-attempt work: a random state id and a fresh PKCE verifier
(S256) stashed in the session, the state checked, single-use and expiring
(10 minutes) before either callback branch is looked at. This adapter does the
Deriv part: the server-side code exchange (`apps.deriv.rest.exchange_code`),
the identity from the REST accounts list, and tokens that leave this request
only as Fernet ciphertext (also in the session while a first sign-in waits for
its email address).
"""

import functools
from datetime import timedelta

from allauth.socialaccount.models import SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from allauth.utils import get_request_param
from django.conf import settings
from django.http import Http404
from django.utils import timezone

from apps.deriv import crypto, rest
from apps.deriv.errors import DerivError


class DerivLoginError(OAuth2Error):
    """A Deriv refusal during sign-in; allauth renders it through the social adapter."""

    def __init__(self, error: DerivError | None = None, message: str = ""):
        self.error = error
        super().__init__(message or (str(error) if error else "Deriv sign-in failed"))


def auth_base() -> str:
    return settings.DERIV["AUTH_URL"].rstrip("/")


def rest_client(token: str) -> rest.DerivRest:
    return rest.DerivRest(token, base_url=settings.DERIV["REST_BASE"], app_id=settings.DERIV.get("APP_ID") or None)


class DerivOAuth2Adapter(OAuth2Adapter):
    provider_id = "deriv"
    login_cancelled_error = "access_denied"

    @property
    def authorize_url(self) -> str:
        return f"{auth_base()}/oauth2/auth"

    @property
    def access_token_url(self) -> str:
        return f"{auth_base()}/oauth2/token"

    def get_access_token_data(self, request, app, client, pkce_code_verifier=None) -> dict:
        if not pkce_code_verifier:
            raise DerivLoginError(message="no PKCE verifier for this sign-in attempt")
        try:
            tokens = rest.exchange_code(
                client_id=app.client_id,
                code=get_request_param(request, "code"),
                redirect_uri=client.callback_url,
                code_verifier=pkce_code_verifier,
                auth_base=auth_base(),
            )
        except DerivError as error:
            raise DerivLoginError(error) from None
        self.did_fetch_access_token = True
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
            "scope": tokens.scope,
        }

    def parse_token(self, data) -> SocialToken:
        # From here on allauth (and the session, while the sign-up form waits) holds ciphertext only.
        token = SocialToken(token=crypto.encrypt(data["access_token"]))
        token.token_secret = crypto.encrypt(data["refresh_token"]) if data.get("refresh_token") else ""
        if data.get("expires_in"):
            token.expires_at = timezone.now() + timedelta(seconds=int(data["expires_in"]))
        return token

    def complete_login(self, request, app, token, **kwargs):
        from apps.deriv.selectors import deriv_uid_for
        from apps.deriv.services import account_as_json

        data = kwargs["response"]
        try:
            accounts = rest_client(data["access_token"]).accounts()
        except DerivError as error:
            raise DerivLoginError(error) from None
        if not accounts:
            raise DerivLoginError(message="this Deriv login has no Options accounts")
        ids = [a.account_id for a in accounts]
        response = {
            "uid": deriv_uid_for(account_ids=ids),
            "accounts": [account_as_json(a) for a in accounts],
            "scope": data.get("scope") or "",
        }
        return self.get_provider().sociallogin_from_response(request, response)


def sign_in_enabled() -> bool:
    """DERIV_ENABLED with a client id: what SOCIALACCOUNT_PROVIDERS needs to define the app."""
    return bool(settings.DERIV.get("ENABLED") and settings.DERIV.get("CLIENT_ID"))


def _enabled(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not sign_in_enabled():
            raise Http404("Deriv is not enabled")
        return view(request, *args, **kwargs)

    return wrapper


oauth2_login = _enabled(OAuth2LoginView.adapter_view(DerivOAuth2Adapter))
oauth2_callback = _enabled(OAuth2CallbackView.adapter_view(DerivOAuth2Adapter))
