"""Encrypt the two-factor secrets stored in clear before the MFA adapter encrypted them."""

from django.db import migrations

from apps.common import crypto

SECRET_FIELDS = ("secret", "seed")
SECRET_LISTS = ("migrated_codes",)


def _readable(value: str) -> bool:
    try:
        crypto.decrypt(value)
    except crypto.DecryptError:
        return False
    return True


def _encrypt(value: str) -> str:
    # Already ciphertext (the migration ran before, or was faked): left as it is.
    return value if _readable(value) else crypto.encrypt(value)


def _decrypt(value: str) -> str:
    return crypto.decrypt(value) if _readable(value) else value


def _map(apps, transform) -> None:
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.order_by("pk"):
        data = dict(authenticator.data)
        for field in SECRET_FIELDS:
            if data.get(field):
                data[field] = transform(data[field])
        for field in SECRET_LISTS:
            if data.get(field) is not None:
                data[field] = [transform(value) for value in data[field]]
        if data != authenticator.data:
            authenticator.data = data
            authenticator.save(update_fields=["data"])


def encrypt_secrets(apps, schema_editor) -> None:
    _map(apps, _encrypt)


def decrypt_secrets(apps, schema_editor) -> None:
    _map(apps, _decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0001_initial"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt_secrets, decrypt_secrets)]
