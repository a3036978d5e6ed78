"""Two-factor secrets at rest: encrypted with the project's key ring, readable after a key rotation."""

import importlib
import json
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from apps.common import crypto
from tests.support.mfa import totp_activate, totp_code

PASSWORD = "correct horse battery staple"


def stored_data(authenticator) -> str:
    """The data column as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {Authenticator._meta.db_table} WHERE id = %s", [authenticator.pk])
        (data,) = cursor.fetchone()
    return data if isinstance(data, str) else json.dumps(data)


def test_an_activated_authenticator_app_stores_its_secret_encrypted(client, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    assert client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)}).status_code == 302

    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert secret not in stored_data(totp)
    assert crypto.decrypt(totp.data["secret"]) == secret
    # Its recovery codes' seed too: the codes derive from it.
    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    seed = crypto.decrypt(recovery.data["seed"])
    assert seed not in stored_data(recovery)


def test_a_recovery_code_signs_in_past_the_second_factor(client, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    totp_activate(user)
    code = RecoveryCodes.activate(user).get_unused_codes()[0]
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})

    response = client.post(reverse("mfa_authenticate"), {"code": code})

    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_a_secret_stored_in_clear_is_encrypted_by_the_migration(user):
    secret = generate_totp_secret()
    totp = Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": secret})
    migration = importlib.import_module("apps.users.migrations.0002_encrypt_mfa_secrets")

    migration.encrypt_secrets(apps, None)
    migration.encrypt_secrets(apps, None)  # run twice: already encrypted secrets stay as they are

    totp.refresh_from_db()
    assert secret not in stored_data(totp)
    assert TOTP(totp).validate_code(totp_code(secret))
    migration.decrypt_secrets(apps, None)
    totp.refresh_from_db()
    assert totp.data == {"secret": secret}


def test_rotating_the_keys_re_encrypts_the_authenticators(settings, user):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [old]}
    totp, secret = totp_activate(user)
    recovery = RecoveryCodes.activate(user)
    codes = recovery.get_unused_codes()
    before = stored_data(totp), stored_data(recovery.instance)

    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [new, old]}
    out = StringIO()
    call_command("rotate_deriv_keys", stdout=out)

    assert "2 authenticator(s)" in out.getvalue()
    totp.refresh_from_db()
    recovery.instance.refresh_from_db()
    assert (stored_data(totp), stored_data(recovery.instance)) != before
    assert recovery.instance.data["used_mask"] == 0
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [new]}  # the old key can go now
    assert TOTP(totp).validate_code(totp_code(secret))
    assert RecoveryCodes(recovery.instance).get_unused_codes() == codes


def test_rotating_fails_loudly_on_an_authenticator_no_key_reads(settings, user):
    totp_activate(user)
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [Fernet.generate_key().decode()]}
    err = StringIO()

    with pytest.raises(CommandError, match="1 authenticator"):
        call_command("rotate_deriv_keys", stdout=StringIO(), stderr=err)
    assert "no configured key reads its secrets" in err.getvalue()
