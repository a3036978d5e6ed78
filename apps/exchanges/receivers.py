"""What the exchanges app does when other apps' facts happen."""

from django.dispatch import receiver

from apps.common.signals import secrets_rotation_requested
from apps.ledger.models import Transfer
from apps.ledger.signals import ledger_checked

from .checks import exchange_breaches
from .services.connections import connections_rotate_keys


@receiver(ledger_checked, sender=Transfer, dispatch_uid="exchanges.check_books")
def check_books(sender, **kwargs) -> list[str]:
    return exchange_breaches()


@receiver(secrets_rotation_requested, dispatch_uid="exchanges.rotate_keys")
def rotate_keys(sender, **kwargs) -> tuple[str, int, list[int]]:
    rotated, unreadable = connections_rotate_keys()
    return "exchange connection", rotated, unreadable
