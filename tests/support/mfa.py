"""Two-factor helpers: give a user an authenticator app, and sign a test client in past its second factor."""

import time

from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)

# allauth keeps the user the records belong to beside them (account/internal/flows/login.py).
RECORDS_USER_SESSION_KEY = "account_authentication_methods_user"


def totp_activate(user) -> tuple[Authenticator, str]:
    """An authenticator app for `user`; returns it and its secret."""
    secret = generate_totp_secret()
    return TOTP.activate(user, secret).instance, secret


def totp_code(secret: str, *, valid_for: float = 5.0) -> str:
    """The code the app shows now, waiting for the next one when this one has under `valid_for` seconds left.

    The server takes only the current period's code, so a code read as its period ends
    would be refused by the time a slow browser submits it.
    """
    left = app_settings.TOTP_PERIOD - time.time() % app_settings.TOTP_PERIOD
    if left < valid_for:
        time.sleep(left + 0.05)
    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def sign_in(client, user, *, mfa: bool) -> None:
    """Sign `client` in as `user` with a password step, and a TOTP step when `mfa`, as allauth records them."""
    client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
    records = [{"method": "password", "at": time.time(), "email": user.email}]
    if mfa:
        authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if authenticator is None:
            authenticator, _ = totp_activate(user)
        records.append({"method": "mfa", "at": time.time(), "id": authenticator.pk, "type": "totp"})
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session[RECORDS_USER_SESSION_KEY] = str(user.pk)
    session.save()
