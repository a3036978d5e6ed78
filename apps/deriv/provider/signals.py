"""allauth's connect and disconnect, for Deriv: link stores the tokens, disconnect unlinks."""

from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.signals import social_account_added, social_account_removed
from django.dispatch import receiver

from apps.deriv import services


@receiver(social_account_added, sender=SocialLogin)
def _linked(sender, request, sociallogin, **kwargs):
    if sociallogin.account.provider == services.PROVIDER:
        services.deriv_link_from_login(sociallogin=sociallogin, request=request)


@receiver(social_account_removed, sender=SocialAccount)
def _unlinked(sender, request, socialaccount, **kwargs):
    # Disconnected from allauth's own connections page.
    if socialaccount.provider == services.PROVIDER:
        services.on_unlink(user=socialaccount.user, request=request)
