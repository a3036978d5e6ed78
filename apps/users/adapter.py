from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from apps.common import crypto


class AccountAdapter(DefaultAccountAdapter):
    """Gives every new user their demo trading account in the sign-up transaction."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            from apps.accounts.services import account_open_demo

            account_open_demo(user=user)
        return user


class MFAAdapter(DefaultMFAAdapter):
    """Authenticator secrets (the TOTP key, the recovery codes' seed) are stored encrypted with the project's key ring.

    allauth passes every such secret through these two hooks; a secret no
    configured key reads raises `crypto.DecryptError` (keys rotated away
    without `rotate_deriv_keys`).
    """

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)
