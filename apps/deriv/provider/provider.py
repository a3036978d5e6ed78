"""Deriv as an allauth OAuth2 provider.

Identity: Deriv's New API has no userinfo endpoint and its tokens are opaque,
so the only thing that names a Deriv user is the set of Options accounts the
token can list (GET /trading/v1/options/accounts). The uid is the lowest
account id at the first link; every later sign-in looks the identity up
through any Deriv account id Nexus already holds for a linked user (see
`selectors.deriv_uid_for`), so opening another account at Deriv does not make a
new identity.
"""

from allauth.account.utils import get_request_param
from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider
from django.conf import settings

from apps.revenue.middleware import referral_touch
from apps.revenue.selectors import partner_by_code

from .views import DerivOAuth2Adapter

# Parameters of the authorize request that partner attribution may never replace.
OAUTH_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}
)


class DerivProviderAccount(ProviderAccount):
    def to_str(self) -> str:
        ids = self.account.extra_data.get("account_ids") or []
        return ", ".join(ids) or "Deriv"


class DerivProvider(OAuth2Provider):
    id = "deriv"
    name = "Deriv"
    account_class = DerivProviderAccount
    oauth2_adapter_class = DerivOAuth2Adapter
    pkce_enabled_default = True

    def get_default_scope(self) -> list[str]:
        return ["trade", "account_manage"]

    def get_scope_from_request(self, request) -> list[str]:
        # Scopes are the platform's choice, not the browser's.
        return self.get_scope()

    def get_auth_params_from_request(self, request, action) -> dict:
        """No parameters from the browser; the sign-up button adds prompt=registration and
        the partner attribution (utm_source, affiliate_token…) from settings, or, when the
        visitor followed the link of a partner with a Deriv affiliate token, that partner's."""
        params = self.get_auth_params()
        if get_request_param(request, "intent") == "signup":
            params["prompt"] = "registration"
            for name, value in settings.DERIV.get("PARTNER_PARAMS", {}).items():
                if value and name not in OAUTH_PARAMS:
                    params[name] = value
            params.update(_referring_partner_params(request))
        return params

    def extract_uid(self, data) -> str:
        return data["uid"]

    def extract_extra_data(self, data) -> dict:
        # What Deriv said about the accounts at sign-in; never a token.
        return {
            "account_ids": [a["account_id"] for a in data["accounts"]],
            "accounts": data["accounts"],
            "scope": data.get("scope") or "",
        }

    def extract_common_fields(self, data) -> dict:
        return {}


def _referring_partner_params(request) -> dict:
    """Deriv's attribution for the partner whose link this visitor followed (first touch, not expired)."""
    touch = referral_touch(request)
    if touch is None or touch.expired:
        return {}
    partner = partner_by_code(touch.code)
    if partner is None or not partner.deriv_affiliate_token:
        return {}
    return {"affiliate_token": partner.deriv_affiliate_token, "utm_source": partner.code}


provider_classes = [DerivProvider]
