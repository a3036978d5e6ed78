from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from .provider import DerivProvider

urlpatterns = default_urlpatterns(DerivProvider)
