"""Sign-in, sign-out and two-factor changes land in the audit trail."""

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed
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


@receiver(authenticator_added, dispatch_uid="users.mfa_added")
def _mfa_added(sender, request, user, authenticator, **kwargs):
    audit_log(actor=user, action="user.mfa_added", target=user, request=request, data={"type": authenticator.type})
    if authenticator.type == Authenticator.Type.TOTP:
        # Activating the app took a fresh code from it: this session has passed a
        # second factor, as a sign-in with the app would record. Without this, a
        # staff user would be asked for another code right away, and the code
        # just used is refused until the app shows the next one.
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)


@receiver(authenticator_removed, dispatch_uid="users.mfa_removed")
def _mfa_removed(sender, request, user, authenticator, **kwargs):
    audit_log(actor=user, action="user.mfa_removed", target=user, request=request, data={"type": authenticator.type})
