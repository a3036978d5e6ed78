"""What the notifications app does when other apps' facts happen: security notices, low-balance checks."""

from allauth.account.signals import password_changed, password_reset, password_set, user_logged_in
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.dispatch import receiver
from django_q.tasks import async_task

from apps.trading.signals import contracts_bought

from .alerts import BROWSER_COOKIE, BROWSER_COOKIE_MAX_AGE, security_notify, sign_in_seen
from .models import NotificationPreferences


@receiver(contracts_bought, dispatch_uid="notifications.low_balance")
def check_low_balance(sender, user_ids, **kwargs) -> None:
    """After commit: a purchase lowered these traders' balances; those with a threshold are checked by the worker."""
    watched = list(
        NotificationPreferences.objects.filter(user_id__in=user_ids, low_balance_threshold__isnull=False)
        .values_list("user_id", flat=True)
        .distinct()
    )
    if watched:
        async_task("apps.notifications.tasks.low_balance_check", watched, group="email")


def _where(request) -> str:
    agent = request.META.get("HTTP_USER_AGENT", "") if request else ""
    address = request.META.get("REMOTE_ADDR", "") if request else ""
    return ", ".join(part for part in (agent[:80], address) if part) or "unknown browser"


@receiver(user_logged_in, dispatch_uid="notifications.sign_in")
def signed_in(sender, request, user, response=None, **kwargs) -> None:
    key = sign_in_seen(user=user, browser_key=request.COOKIES.get(BROWSER_COOKIE, ""), where=_where(request))
    if response is not None:
        response.set_cookie(
            BROWSER_COOKIE,
            key,
            max_age=BROWSER_COOKIE_MAX_AGE,
            httponly=True,
            secure=request.is_secure(),
            samesite="Lax",
        )


@receiver(password_changed, dispatch_uid="notifications.password_changed")
@receiver(password_set, dispatch_uid="notifications.password_set")
@receiver(password_reset, dispatch_uid="notifications.password_reset")
def password_changed_notice(sender, request, user, **kwargs) -> None:
    security_notify(
        user=user,
        title="Your password was changed",
        body="The password of your Nexus account was changed. If it was not you, reset it now and contact us.",
    )


@receiver(authenticator_added, dispatch_uid="notifications.mfa_added")
@receiver(authenticator_removed, dispatch_uid="notifications.mfa_removed")
@receiver(authenticator_reset, dispatch_uid="notifications.mfa_reset")
def mfa_changed_notice(sender, request, user, authenticator=None, **kwargs) -> None:
    what = authenticator.get_type_display() if authenticator is not None else "two-factor authentication"
    security_notify(
        user=user,
        title="Two-factor authentication changed",
        body=f"Your two-factor authentication changed ({what}). If it was not you, reset your password now.",
    )
