"""Checks of the Deriv integration: a deploy check (`manage.py check --deploy`) and Deriv's
money invariants, run by `ledger_check` with the ledger's own (see receivers)."""

from datetime import timedelta

from django.conf import settings
from django.core.checks import Tags, Warning, register

from .selectors import escrow_held_unlinked

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


# Unlinking with contracts open is allowed: they stay OPEN, their stake in escrow, until the
# account is linked again and its session follows them. Held this long, the money is stuck.
UNLINKED_ESCROW_REPORT = timedelta(minutes=10)


def unlinked_escrow_breaches() -> list[str]:
    return [
        f"escrow holds {sum(stake for _, stake in held)} for unlinked Deriv account {external_id} "
        f"(contracts {', '.join(str(pk) for pk, _ in held)})"
        for external_id, held in escrow_held_unlinked(held_for=UNLINKED_ESCROW_REPORT).items()
    ]
