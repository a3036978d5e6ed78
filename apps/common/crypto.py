"""Encryption at rest for stored secrets: MultiFernet over DERIV["FERNET_KEYS"].

One key ring serves every secret the database keeps (Deriv tokens, the
two-factor secrets of allauth's authenticators); it keeps the name of its
first user so deployed environments need no change.

Keys are comma-separated, newest first: the first encrypts, every one decrypts,
so a new key is rolled out by putting it first and running `rotate_deriv_keys`
(which re-encrypts every stored secret with it) before the old one is dropped.

With no keys set (tests, local development) one key is derived from
SECRET_KEY, so secrets are still never stored in clear; production sets real
keys, because rotating SECRET_KEY would otherwise make stored secrets unreadable.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptError(Exception):
    """A stored secret no key can read (keys rotated away without re-encryption)."""


def development_key(secret_key: str) -> bytes:
    # The label predates the other users of the ring: changing it would make
    # secrets stored without configured keys unreadable.
    digest = hashlib.sha256(b"nexus-deriv-tokens:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def _keys() -> list[bytes]:
    keys = [k.strip().encode() for k in settings.DERIV.get("FERNET_KEYS") or [] if k.strip()]
    return keys or [development_key(settings.SECRET_KEY)]


def fernet() -> MultiFernet:
    # Built per call: cheap, and tests that change the keys see the change.
    return MultiFernet([Fernet(key) for key in _keys()])


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode("ascii")


def decrypt(value: str) -> str:
    try:
        return fernet().decrypt(value.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise DecryptError("no configured key decrypts this secret") from None


def rotate(value: str) -> str:
    """The same secret, encrypted with the newest key."""
    try:
        return fernet().rotate(value.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        raise DecryptError("no configured key decrypts this secret") from None
