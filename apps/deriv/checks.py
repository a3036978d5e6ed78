"""System checks for the Deriv integration (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

W001 = Warning(
    "DERIV_ENABLED is on but DERIV_FERNET_KEYS is empty: Deriv tokens are encrypted with a key derived "
    "from SECRET_KEY, so rotating SECRET_KEY makes every stored token unreadable.",
    hint="Set DERIV_FERNET_KEYS to one or more Fernet keys, newest first "
    '(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())").',
    id="deriv.W001",
)


@register(Tags.security, deploy=True)
def fernet_keys_check(app_configs, **kwargs):
    deriv = settings.DERIV
    keys = [k for k in deriv.get("FERNET_KEYS") or [] if k.strip()]
    if deriv.get("ENABLED") and not keys:
        return [W001]
    return []
