from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter

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


class UserSessionsAdapter(DefaultUserSessionsAdapter):
    """Ending sessions from Settings > Security also tells who listens (realtime closes those sessions' sockets)."""

    def end_sessions(self, sessions) -> None:
        from .signals import sessions_ended

        sessions = list(sessions)
        super().end_sessions(sessions)
        by_user: dict[int, list[str]] = {}
        for session in sessions:
            by_user.setdefault(session.user_id, []).append(session.session_key)
        for user_id, keys in by_user.items():
            sessions_ended.send(sender=self.__class__, user_id=user_id, session_keys=keys)
