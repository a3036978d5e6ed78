"""Live socket limits: messages per second per socket, sockets per user, and sockets that end with their session.

The consumer only asks these helpers; the counting lives here.

- Messages: each socket counts what its client sends in the current second
  (in the socket's own process; nothing to share).
- Sockets per user: a user's sockets live in many web processes, so each one
  holds a numbered slot in the shared cache (`ws:slot:<user>:<n>`, taken with
  an atomic add, n below `SOCKETS_PER_USER`). A socket that finds no free slot
  is closed. A slot expires unless its socket refreshes it (at each re-join
  of its groups), so a process that died never keeps a user's slots for good.
- Session end: signing out tells the user's group (`user.<id>`) which
  session ended; each socket compares it with the digest of its own session
  key (the key itself never goes on the channel layer). A password change
  closes every socket of the user.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

CLOSE_CODE = 4429  # over a limit (as HTTP's 429)
SESSION_ENDED_CODE = 4401  # the same code as a socket without a sign-in
TOO_MANY_MESSAGES = "too many messages"
TOO_MANY_SOCKETS = "too many live connections for this user"
SESSION_ENDED = "session ended"


class MessageRate:
    """The messages one socket sent in the current second, against `WS_LIMITS["MESSAGES_PER_SECOND"]`."""

    def __init__(self, per_second: int | None = None):
        self.per_second = per_second or settings.WS_LIMITS["MESSAGES_PER_SECOND"]
        self.second, self.count = 0, 0

    def allow(self, now: float | None = None) -> bool:
        second = int(time.monotonic() if now is None else now)
        if second != self.second:
            self.second, self.count = second, 0
        self.count += 1
        return self.count <= self.per_second


def _slot_key(user_id: int, slot: int) -> str:
    return f"ws:slot:{user_id}:{slot}"


def _slot_ttl() -> int:
    # Three re-joins without a refresh: the socket's process is gone.
    return int(settings.NEXUS["WS_REJOIN_SECONDS"] * 3) + 1


class SocketSlot:
    """One socket's place among its user's `WS_LIMITS["SOCKETS_PER_USER"]`, kept in the shared cache."""

    def __init__(self, *, user_id: int, channel_name: str):
        self.user_id, self.channel_name = user_id, channel_name
        # The slot held; -1 when the cache is down (let in, not counted).
        self.number: int | None = None

    async def claim(self) -> bool:
        """Take a free slot: False when the user's sockets hold them all."""
        try:
            for number in range(settings.WS_LIMITS["SOCKETS_PER_USER"]):
                if await cache.aadd(_slot_key(self.user_id, number), self.channel_name, timeout=_slot_ttl()):
                    self.number = number
                    return True
        except Exception:
            # Without the cache the count cannot be kept: the socket is let in.
            logger.warning("socket limit of user %s not checked: no cache", self.user_id, exc_info=True)
            self.number = -1
            return True
        return False

    async def refresh(self) -> None:
        """Keep the slot from expiring (taken again if it expired meanwhile)."""
        if self.number is None or self.number < 0:
            return
        key = _slot_key(self.user_id, self.number)
        try:
            if await cache.aget(key) == self.channel_name:
                await cache.atouch(key, timeout=_slot_ttl())
            else:
                await cache.aadd(key, self.channel_name, timeout=_slot_ttl())
        except Exception:
            logger.warning("socket slot of user %s not refreshed", self.user_id, exc_info=True)

    async def release(self) -> None:
        if self.number is None or self.number < 0:
            return
        key, self.number = _slot_key(self.user_id, self.number), None
        try:
            # Only our own: an expired slot may have been taken by another socket since.
            if await cache.aget(key) == self.channel_name:
                await cache.adelete(key)
        except Exception:
            logger.warning("socket slot of user %s not released (it expires)", self.user_id, exc_info=True)


def session_digest(session_key: str | None) -> str:
    """What a socket and a sign-out compare: a digest of the session key, never the key itself."""
    if not session_key:
        return ""
    return hashlib.sha256(f"nexus-ws-session:{session_key}".encode()).hexdigest()[:32]


def session_end_message(*, ended: str = "") -> dict:
    """The group message that closes a user's sockets: those of session `ended`, every one without it."""
    return {"type": "session.end", "ended": ended, "reason": SESSION_ENDED}


def session_end_closes(event: dict, own: str) -> bool:
    """Whether a socket whose session digest is `own` must close on this message."""
    return not event.get("ended") or event["ended"] == own
