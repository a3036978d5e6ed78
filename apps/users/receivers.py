"""Sign-in and sign-out land in the audit trail."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from apps.audit.services import audit_log


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs):
    audit_log(actor=user, action="user.login", target=user, request=request)


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    # Only the identifier is kept: the password never reaches the trail.
    audit_log(
        actor=None,
        action="user.login_failed",
        request=request,
        data={"email": str(credentials.get("email") or credentials.get("username") or "")[:254]},
    )
