"""Receivers of other apps' facts."""

from allauth.account.signals import user_signed_up
from django.contrib import messages
from django.dispatch import receiver

from apps.ledger.signals import ledger_checked

from .checks import revenue_breaches
from .middleware import forget_touch, referral_touch
from .services import partner_for, referral_attribute


@receiver(ledger_checked, dispatch_uid="revenue.revenue_breaches")
def check_revenue(sender, **kwargs) -> list[str]:
    return revenue_breaches()


@receiver(user_signed_up, dispatch_uid="revenue.attribute_sign_up")
def _attribute_sign_up(sender, request, user, **kwargs):
    """A new trader (email sign-up or Continue with Deriv) is attributed once, to the link they followed first,
    and gets their own referral code.

    Sent in the request that creates the user, before the email is verified: the
    link's cookie is read here and then deleted, so verification links opened
    later (or in another browser) change nothing.
    """
    touch = referral_touch(request) if request is not None else None
    partner_for(user)  # every trader can bring traders: their own code and link from the start
    attribution = referral_attribute(
        user=user,
        code=touch.code if touch else "",
        touched_at=touch.touched_at if touch else None,
        request=request,
    )
    if request is None:
        return
    if touch is not None:
        forget_touch(request)
    if attribution.message:
        messages.warning(request, attribution.message, fail_silently=True)
