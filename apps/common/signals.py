"""Facts and requests shared by every app.

`secrets_rotation_requested`: `rotate_deriv_keys` asks every app that stores
secrets under the key ring to re-encrypt them with its newest key. Each
receiver returns (what it stores, how many it re-encrypted, the ids no key reads).
"""

from django.dispatch import Signal

secrets_rotation_requested = Signal()
