"""Worker tasks of the notifications app (django-q2): sending the outbox, its sweep, digests, alerts."""

from . import alerts, deadman, digest, email


def outbox_send(ids: list[int]) -> int:
    return email.outbox_send(ids)


def outbox_sweep() -> int:
    return email.outbox_sweep()


def digests_send() -> int:
    return digest.digests_send()


def deadman_check() -> list[str]:
    return deadman.deadman_check()


def low_balance_check(user_ids: list[int]) -> int:
    return alerts.low_balance_check(user_ids)
