from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.db import transaction

from apps.common import crypto

# The secrets allauth keeps in an authenticator's data, each passed through the MFA adapter's encrypt().
SECRET_FIELDS = ("secret", "seed")
SECRET_LISTS = ("migrated_codes",)


def authenticator_data_map(data: dict, transform: Callable[[str], str]) -> dict:
    """`data` with each of its secrets passed through `transform`; the rest (used codes mask) as it was."""
    data = dict(data)
    for field in SECRET_FIELDS:
        if data.get(field):
            data[field] = transform(data[field])
    for field in SECRET_LISTS:
        if data.get(field) is not None:
            data[field] = [transform(value) for value in data[field]]
    return data


def authenticators_rotate_keys() -> tuple[int, list[int]]:
    """Re-encrypt every authenticator's secrets with the newest key; returns how many, and the ids no key reads."""
    rotated, unreadable = 0, []
    for pk in Authenticator.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            authenticator = Authenticator.objects.select_for_update().get(pk=pk)
            try:
                authenticator.data = authenticator_data_map(authenticator.data, crypto.rotate)
            except crypto.DecryptError:
                unreadable.append(pk)
                continue
            authenticator.save(update_fields=["data"])
            rotated += 1
    return rotated, unreadable
