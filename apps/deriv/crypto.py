"""Encryption at rest for Deriv tokens: the project's key ring (apps.common.crypto).

Deriv's names for it: a token no key reads raises `TokenDecryptError`.
"""

from apps.common.crypto import DecryptError as TokenDecryptError
from apps.common.crypto import decrypt, development_key, encrypt, rotate

__all__ = ["TokenDecryptError", "decrypt", "development_key", "encrypt", "rotate"]
