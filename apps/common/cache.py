"""The shared cache on Redis, degrading instead of failing while Redis is unreachable.

Nothing Nexus keeps in the cache is the only copy of anything: allauth's rate
limit counters, TOTP codes already used, the signals monitor's "someone is
watching" flag. Losing them for the length of an outage costs less than
answering every sign-in with a 500, so while Redis cannot be reached each
operation answers as an empty cache would, and takes a lock it cannot take
(`add`) as granted:

- allauth's rate limits fail open (a sign-in or sign-up is never refused
  because the counters are out of reach), with a warning in the log; a
  closed failure would lock every trader out for the outage.
- a TOTP code can be replayed within its 30 s window until Redis is back
  (the code itself is still checked).

After a connection error the cache stops asking Redis for `RETRY_AFTER_S`,
so a request pays at most one refused connection, not one per operation,
and the log gets one warning per outage, not one per call.
"""

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Only "Redis is out of reach": a wrong command or a serializer bug still raises.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


class DegradingRedisCache(RedisCache):
    """Django's RedisCache, answering as an empty cache while Redis is unreachable (see the module)."""

    RETRY_AFTER_S = 5.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._down_until = 0.0
        self._answered_until = 0.0
        self._state_lock = threading.Lock()

    @property
    def unreachable(self) -> bool:
        """True while a recent operation could not reach Redis (this process's view, no round trip)."""
        return time.monotonic() < self._down_until

    def reachable(self) -> bool:
        """Whether Redis answers: at most one PING per `RETRY_AFTER_S` in this process, whatever the answer."""
        if self.unreachable:
            return False
        if time.monotonic() < self._answered_until:
            return True
        answered = self._call("ping", lambda: bool(self._cache.get_client(write=True).ping()), False)
        if answered:
            self._answered_until = time.monotonic() + self.RETRY_AFTER_S
        return answered

    def _call(self, operation: str, call, fallback):
        if self.unreachable:
            return fallback
        try:
            return call()
        except UNREACHABLE as error:
            with self._state_lock:
                first = not self.unreachable
                self._down_until = time.monotonic() + self.RETRY_AFTER_S
            if first:
                logger.warning(
                    "cache unreachable (%s on %s): answering as an empty cache, rate limits fail open; "
                    "retrying in %.0f s",
                    error,
                    operation,
                    self.RETRY_AFTER_S,
                )
            return fallback

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", lambda: super(DegradingRedisCache, self).add(key, value, timeout, version), True)

    def get(self, key, default=None, version=None):
        return self._call("get", lambda: super(DegradingRedisCache, self).get(key, default, version), default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", lambda: super(DegradingRedisCache, self).set(key, value, timeout, version), None)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", lambda: super(DegradingRedisCache, self).touch(key, timeout, version), False)

    def delete(self, key, version=None):
        return self._call("delete", lambda: super(DegradingRedisCache, self).delete(key, version), False)

    def get_many(self, keys, version=None):
        return self._call("get_many", lambda: super(DegradingRedisCache, self).get_many(keys, version), {})

    def has_key(self, key, version=None):
        return self._call("has_key", lambda: super(DegradingRedisCache, self).has_key(key, version), False)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # Django's contract: the keys that failed to be set.
        return self._call(
            "set_many", lambda: super(DegradingRedisCache, self).set_many(data, timeout, version), list(data)
        )

    def delete_many(self, keys, version=None):
        return self._call("delete_many", lambda: super(DegradingRedisCache, self).delete_many(keys, version), None)

    # incr/decr and clear still raise: a counter that silently restarts, or a
    # clear that did nothing, would be wrong rather than merely empty, and
    # nothing in a request path uses them.
