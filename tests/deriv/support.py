"""Helpers for the Deriv tests: linked traders, Deriv markets, the connection manager on a thread, purchases."""

import secrets
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from allauth.socialaccount.providers.oauth2.utils import generate_code_challenge
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.deriv import adapter, crypto, rest, services
from apps.deriv.manager import DerivConnections
from apps.deriv.models import DerivLink
from apps.ledger.models import LedgerAccount
from apps.markets.models import Market, Source, TieRule
from apps.trading.models import Contract, Status
from apps.trading.services import contract_buy

REDIRECT = "https://nexus.example.com/deriv/callback/"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def authorize(fake, **params):
    """A browser at Deriv's authorize page, with a fresh PKCE pair and state as allauth makes them for a
    sign-in; returns (the code verifier, the state, the callback query Deriv redirects to)."""
    pkce, state = generate_code_challenge(), secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": fake.client_id,
        "redirect_uri": REDIRECT,
        "scope": "trade account_manage",
        "state": state,
        "code_challenge": pkce["code_challenge"],
        "code_challenge_method": "S256",
        **params,
    }
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"{fake.auth_base}/oauth2/auth?{urlencode(query)}")
    assert caught.value.code == 302
    location = caught.value.headers["Location"]
    assert location.startswith(REDIRECT)
    return pkce["code_verifier"], state, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(fake, code, verifier):
    return rest.exchange_code(
        client_id=fake.client_id, code=code, redirect_uri=REDIRECT, code_verifier=verifier, auth_base=fake.auth_base
    )


def link_user(user, fake, *, token=None, refresh_token="") -> DerivLink:
    """A trader linked to the fake's default Deriv user, as after a sign-in."""
    services.deriv_link_store(
        user=user,
        access_token_encrypted=crypto.encrypt(token or fake.issue_token()),
        refresh_token_encrypted=crypto.encrypt(refresh_token) if refresh_token else "",
        scope="trade account_manage",
    )
    services.deriv_accounts_sync(user=user, source="test")
    return DerivLink.objects.get(user=user)


def deriv(user, account_type):
    return TradingAccount.objects.select_related("ledger_account", "deriv").get(user=user, type=account_type)


FAST_CLIENT = {"backoff_initial": 0.01, "backoff_max": 0.05, "ping_interval": None, "request_timeout": 3.0}


def deriv_market(symbol: str = "R_10") -> Market:
    market, _ = Market.objects.update_or_create(
        symbol=symbol,
        defaults={
            "name": symbol.replace("_", " "),
            "source": Source.DERIV,
            "base_price": Decimal("100"),
            "tie_rule": TieRule.LOSE,
            "tick_interval_ms": 2000,
            "decimals": 3,
            "payout_percent": Decimal("95.00"),
            "is_active": True,
        },
    )
    fresh(market)
    return market


def fresh(market: Market) -> None:
    """Prices are live (the Deriv feed would write them): trading is not paused."""
    Market.objects.filter(pk=market.pk).update(last_tick_at=timezone.now(), last_price=Decimal("100"))
    market.refresh_from_db()


class Manager:
    """The connection manager on its own thread, as `run_deriv` runs it (there, on the main thread)."""

    def __init__(self, **options):
        self.manager = DerivConnections(client_options=FAST_CLIENT, **options)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.manager.run_forever, args=(self.stopping.is_set,), daemon=True)

    def start(self):
        self.thread.start()
        wait_for(lambda: self.manager._listening.is_set() or None, timeout=10)
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(15)

    def session(self, account):
        return wait_for(lambda: self.manager.sessions.get(account.pk), timeout=10)


def buy(user, account, market, *, direction="RISE", stake="10.00", duration=5, unit="t", key=None):
    fresh(market)
    return contract_buy(
        user=user,
        account=account,
        market=market,
        direction=direction,
        stake=Decimal(stake),
        duration=duration,
        duration_unit=unit,
        idempotency_key=key or f"k-{timezone.now().timestamp()}-{direction}-{stake}",
    )


def at_deriv_contract(fake, deriv_id) -> dict:
    """The fake's view of a contract (its POC payload, numbers as numbers)."""
    return fake.contract(deriv_id)["proposal_open_contract"]


def ledger_balance(account) -> Decimal:
    return LedgerAccount.objects.get(pk=account.ledger_account_id).balance


def settled(contract_ids):
    return Contract.objects.filter(pk__in=contract_ids).exclude(status__in=[Status.OPEN, Status.PENDING]).count()


def run_until_settled(fake, contract_ids, *, seconds=14, timeout=10):
    """Advance Deriv's clock (5 ticks of R_10 take 10 s) and wait until every contract settled here."""
    ids = list(contract_ids)
    fake.advance(seconds)
    wait_for(lambda: settled(ids) == len(ids), timeout=timeout)


def pong(client) -> bool:
    """The socket answers: a `ping` comes back as `pong`."""
    return client.call(adapter.ping_request()).get("ping") == "pong"


def wait_for(predicate, timeout: float = 3.0, interval: float = 0.005):
    """Poll until predicate() is truthy (the client reads on its own thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
