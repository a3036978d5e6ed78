"""Deriv's published request limits, budgeted on our side so that Deriv rarely has to refuse us.

    budget = socket_budget()                     # one per DerivClient (its socket, and the next after a reconnect)
    budget.take("buy", timeout=10)               # waits for room, or raises OverBudget (a RateLimit)
    budget.take("proposal_open_contract", poll=True)   # a poll: never waits, and stops first
    budget.refused("buy")                        # Deriv answered RateLimit: the group cools off a minute
    rest_budgets.take(user_id, timeout=5)        # REST, per Deriv user

The limits, each a minute (settings.DERIV["LIMITS"], defaults from Deriv's
Limits page): per socket, `proposal`, `proposal_open_contract`, `buy` and
`sell` share 360 (the "pricing" group), `balance` has 100, `portfolio` 30, and
everything else (ping, time, ticks_history, forget…) 220; REST has 80 per user.

Each group is a sliding window over the last minute. Polls (a one-shot
`proposal_open_contract`, `portfolio` or `balance` read: the session's
follow-ups, not the trader's order) never wait, and may use only the part of
their group's window that leaves POLL_RESERVE for the rest: when the window
fills, polling stops first and a buy (a proposal, then the buy) still finds
room. A request that is not a poll waits for room up to its timeout.

After Deriv answers RateLimit, the group cools off COOL_OFF_S (at least a
minute, as Deriv's windows are a minute long): nothing of that group is sent
meanwhile. A request of it is refused at once with OverBudget: polls are
skipped until then, and a buy is refused ("Deriv is limiting requests right
now"), stake back, rather than held for a minute while the trader waits (the
trader waits BUY_TIMEOUT_S at most).

Budgets live in the process. The Deriv sockets of an account all live in the
one `run_deriv` process, so a socket's budget is exact; REST calls for one user
can come from web, worker and `run_deriv` at once, so each process keeps its
own count of them (Deriv's 429 then cools that process off).
"""

import threading
import time
from collections import deque
from collections.abc import Callable

from django.conf import settings

from .errors import RateLimit

PRICING, BALANCE, PORTFOLIO, GENERAL, REST = "pricing", "balance", "portfolio", "general", "rest"
DEFAULT_LIMITS = {PRICING: 360, BALANCE: 100, PORTFOLIO: 30, GENERAL: 220, REST: 80}
WINDOW_S = 60.0
COOL_OFF_S = 60.0
# Polls stop this far short of a group's limit: of the pricing group's 360 a minute, 60 stay for trading.
POLL_RESERVE = {PRICING: 60}

_GROUPS = {
    "proposal": PRICING,
    "proposal_open_contract": PRICING,
    "buy": PRICING,
    "sell": PRICING,
    "balance": BALANCE,
    "portfolio": PORTFOLIO,
}
_POLLS = frozenset({"proposal_open_contract", "balance", "portfolio"})

Clock = Callable[[], float]


class OverBudget(RateLimit):
    """Not sent: our budget for Deriv's limit has no room (or the group is cooling off after Deriv refused)."""


def group_of(method: str) -> str:
    """The limit a WebSocket call counts against."""
    return _GROUPS.get(method, GENERAL)


def is_poll(method: str, request: dict) -> bool:
    """A one-shot read of something the session follows anyway: the first thing to give way."""
    return method in _POLLS and not request.get("subscribe")


def limits() -> dict[str, int]:
    return {**DEFAULT_LIMITS, **settings.DERIV.get("LIMITS", {})}


def cool_off() -> float:
    """How long a group rests after Deriv refused it (a test may shorten it in settings.DERIV["COOL_OFF_S"])."""
    return float(settings.DERIV.get("COOL_OFF_S", COOL_OFF_S))


class Budget:
    """Sliding one-minute windows by group, with cool-offs; thread-safe, one clock (injectable for tests)."""

    def __init__(
        self,
        limits: dict[str, int],
        *,
        reserve: dict[str, int] | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window_s: float = WINDOW_S,
        cool_off_s: float | None = None,
        name: str = "deriv",
    ):
        self.limits = dict(limits)
        self.reserve = dict(reserve or {})
        self.clock, self._sleep = clock, sleep
        self.window_s, self.cool_off_s = window_s, cool_off_s
        self.name = name
        self._sent: dict[str, deque[float]] = {group: deque() for group in self.limits}
        self._cool_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, method: str, *, poll: bool = False, timeout: float = 0.0, group: str | None = None) -> None:
        """Count one request of `method` (or of `group`), waiting up to `timeout` for room unless it is a poll.

        Raises OverBudget, without counting anything, when there is no room.
        """
        group = group or group_of(method)
        deadline = self.clock() + (0.0 if poll else timeout)
        while True:
            with self._lock:
                now = self.clock()
                cooling = self._cool_until.get(group, 0.0) - now
                if cooling > 0:
                    raise OverBudget(
                        f"{self.name}: Deriv refused {group} requests; none sent for another {cooling:.0f}s",
                        code="RateLimit",
                    )
                sent = self._trim(group, now)
                room = self.limits[group] - (self.reserve.get(group, 0) if poll else 0)
                if len(sent) < room:
                    sent.append(now)
                    return
                wait = sent[len(sent) - room] + self.window_s - now if room > 0 else self.window_s
            if now + wait > deadline:
                kind = "polls" if poll else "requests"
                raise OverBudget(
                    f"{self.name}: our budget of {room} {group} {kind} a minute is spent", code="RateLimit"
                )
            self._sleep(wait)

    def refused(self, method: str, *, group: str | None = None, seconds: float | None = None) -> None:
        """Deriv answered RateLimit: send nothing of that group for the cool-off (or `seconds`, if longer)."""
        group = group or group_of(method)
        pause = max(cool_off() if self.cool_off_s is None else self.cool_off_s, seconds or 0.0)
        with self._lock:
            until = self.clock() + pause
            self._cool_until[group] = max(self._cool_until.get(group, 0.0), until)

    def cooling_left(self, method: str = "", *, group: str | None = None) -> float:
        """Seconds until the group may send again after a refusal (0 when it may now)."""
        group = group or group_of(method)
        with self._lock:
            return max(0.0, self._cool_until.get(group, 0.0) - self.clock())

    def used(self) -> dict[str, int]:
        """Requests counted in the last minute, by group (for status pages and metrics)."""
        with self._lock:
            now = self.clock()
            return {group: len(self._trim(group, now)) for group in self.limits}

    def _trim(self, group: str, now: float) -> deque[float]:
        sent = self._sent[group]
        while sent and now - sent[0] >= self.window_s:
            sent.popleft()
        return sent


def socket_budget(**options) -> Budget:
    """The budget of one Deriv socket: the pricing, balance, portfolio and general groups."""
    configured = limits()
    options.setdefault("reserve", POLL_RESERVE)
    return Budget({g: configured[g] for g in (PRICING, BALANCE, PORTFOLIO, GENERAL)}, **options)


class UserBudgets:
    """REST budgets, one per Deriv user (by the Nexus user id of the link), in this process."""

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.clock, self.sleep = clock, sleep
        self._budgets: dict[int, Budget] = {}
        self._lock = threading.Lock()

    def for_user(self, user_id: int) -> Budget:
        with self._lock:
            budget = self._budgets.get(user_id)
            if budget is None:
                budget = Budget(
                    {REST: limits()[REST]}, clock=lambda: self.clock(), sleep=self.sleep, name=f"REST user {user_id}"
                )
                self._budgets[user_id] = budget
            return budget

    def take(self, user_id: int, *, timeout: float = 0.0) -> None:
        self.for_user(user_id).take(REST, group=REST, timeout=timeout)

    def refused(self, user_id: int, *, seconds: float | None = None) -> None:
        self.for_user(user_id).refused(REST, group=REST, seconds=seconds)

    def reset(self) -> None:
        """Forget every count and cool-off (tests: user ids come back from one test to the next)."""
        with self._lock:
            self._budgets.clear()


rest_budgets = UserBudgets()
