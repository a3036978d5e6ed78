"""What the fake Deriv remembers: users, accounts, tokens, codes, OTPs, sockets, subscriptions, faults."""

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class User:
    user_id: str
    email: str
    accounts: list[str] = field(default_factory=list)


@dataclass
class Account:
    account_id: str
    user_id: str
    account_type: str  # demo | real
    balance: Decimal
    currency: str = "USD"
    group: str = "row"
    status: str = "active"

    def as_json(self) -> dict:
        return {
            "account_id": self.account_id,
            "balance": float(self.balance),
            "currency": self.currency,
            "group": self.group,
            "status": self.status,
            "account_type": self.account_type,
        }


@dataclass
class Token:
    value: str
    user_id: str
    scopes: frozenset
    expires_at: float | None
    pat: bool = False
    revoked: bool = False
    code: str | None = None  # the authorization code it came from
    grant: str | None = None  # the chain it belongs to: the sign-in and every refresh since


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    challenge: str
    user_id: str
    scopes: frozenset
    expires_at: float
    used: bool = False


@dataclass
class Otp:
    value: str
    account_id: str
    expires_at: float
    used: bool = False


@dataclass(eq=False)
class Sub:
    id: str
    kind: str  # ticks | candles | proposal | proposal_open_contract | balance
    key: tuple | None  # what AlreadySubscribed compares
    req_id: int | None
    passthrough: dict | None
    echo: dict
    data: dict = field(default_factory=dict)
    forgotten: bool = False


@dataclass(frozen=True)
class Drop:
    mode: str  # abrupt | close
    code: int = 1000


class Socket:
    """One accepted WebSocket: its account (None on ws/public), streams and outgoing queue."""

    _ids = 0

    def __init__(self, ws, kind: str, account_id: str | None, user_id: str | None):
        Socket._ids += 1
        self.number = Socket._ids
        self.ws = ws
        self.kind = kind
        self.account_id = account_id
        self.user_id = user_id
        self.subs: dict[str, Sub] = {}
        self.keys: dict[tuple, Sub] = {}
        self.proposals: dict[str, tuple] = {}  # proposal id -> (Terms, Sub | None)
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.recent: deque[float] = deque()
        self.minute: dict[str, deque[float]] = {}  # group -> times (fake clock) of its requests in the last minute
        self.last_recv = time.monotonic()
        self.closed = False

    def end(self, sub: Sub, *, forgotten: bool) -> None:
        self.subs.pop(sub.id, None)
        if sub.key is not None and self.keys.get(sub.key) is sub:
            del self.keys[sub.key]
        if forgotten:
            sub.forgotten = True


@dataclass
class Fault:
    kind: str  # error | delay | drop
    code: str | None = None
    message: str | None = None
    details: dict | None = None
    status: int | None = None
    seconds: float = 0.0
    drop: Drop | None = None
    after_response: bool = False
    processed: bool = False  # an error answer to a call that was carried out


@dataclass(frozen=True)
class InvalidRequest:
    where: str  # ws:public, ws:demo, http
    request: object
    errors: tuple

    def __str__(self) -> str:
        return f"{self.where}: {self.request!r} -> {'; '.join(self.errors)}"
