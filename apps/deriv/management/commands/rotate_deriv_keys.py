"""Re-encrypt every secret stored with the key ring of DERIV_FERNET_KEYS with its newest key.

Those are the Deriv tokens, the two-factor secrets (allauth's
authenticators) and every other app's secrets (exchange API keys), which
answer `secrets_rotation_requested`. Roll a key: put the new key first in DERIV_FERNET_KEYS (keep
the old ones after it), deploy, run this command, then drop the old keys.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.common.signals import secrets_rotation_requested
from apps.deriv import crypto
from apps.deriv.models import DerivLink
from apps.users.services import authenticators_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt every stored Deriv token and two-factor secret with the newest DERIV_FERNET_KEYS key."

    def handle(self, *args, **options):
        rotated = unreadable = 0
        for pk in DerivLink.objects.order_by("pk").values_list("pk", flat=True):
            with transaction.atomic():
                link = DerivLink.objects.select_for_update().get(pk=pk)
                try:
                    link.access_token_encrypted = crypto.rotate(link.access_token_encrypted)
                    if link.refresh_token_encrypted:
                        link.refresh_token_encrypted = crypto.rotate(link.refresh_token_encrypted)
                except crypto.TokenDecryptError:
                    unreadable += 1
                    self.stderr.write(f"Deriv link {pk}: no configured key reads its tokens")
                    continue
                link.save(update_fields=["access_token_encrypted", "refresh_token_encrypted", "updated_at"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the tokens of {rotated} Deriv link(s) with the newest key.")
        authenticators, unreadable_authenticators = authenticators_rotate_keys()
        for pk in unreadable_authenticators:
            self.stderr.write(f"Authenticator {pk}: no configured key reads its secrets")
        self.stdout.write(f"Re-encrypted the secrets of {authenticators} authenticator(s) with the newest key.")
        others = 0
        for _receiver, (what, count, unreadable_ids) in secrets_rotation_requested.send(sender=self.__class__):
            for pk in unreadable_ids:
                self.stderr.write(f"{what.capitalize()} {pk}: no configured key reads its secrets")
            self.stdout.write(f"Re-encrypted the secrets of {count} {what}(s) with the newest key.")
            others += len(unreadable_ids)
        if unreadable or unreadable_authenticators or others:
            raise CommandError(
                f"{unreadable} link(s), {len(unreadable_authenticators)} authenticator(s) and {others} other "
                "secret(s) could not be read: keep their old key and run again."
            )
