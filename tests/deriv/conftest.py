import threading

import pytest

from apps.accounts.models import AccountType
from apps.deriv import budget, gateway
from apps.deriv.client import DerivClient
from apps.deriv.rest import DerivRest
from tests.fakes.deriv.fixtures import fake_deriv_fixture  # noqa: F401
from tests.support.redis import embedded_redis_server

from .support import Manager, deriv, link_user, wait_for


@pytest.fixture(autouse=True)
def fresh_rest_budgets():
    """REST budgets are per process and keyed by user id, which the next test's database hands out again."""
    budget.rest_budgets.reset()
    yield
    budget.rest_budgets.reset()


class Collector:
    """A subscription callback that keeps every message."""

    def __init__(self):
        self.messages = []
        self.errors = []
        self._lock = threading.Lock()

    def __call__(self, message):
        with self._lock:
            self.messages.append(message)

    def on_error(self, exc):
        self.errors.append(exc)

    def of(self, msg_type):
        with self._lock:
            return [m for m in self.messages if m.get("msg_type") == msg_type]


class OtpProvider:
    """url_provider for an account's socket: a fresh OTP URL from the fake's REST API each time."""

    def __init__(self, fake, account_type="demo", token=None):
        self.token = token or fake.issue_token()
        self.rest = DerivRest(self.token, base_url=fake.rest_base)
        self.account_id = fake.account_id(account_type)
        self.urls = []

    def __call__(self):
        url = self.rest.otp_url(self.account_id)
        self.urls.append(url)
        return url


@pytest.fixture
def clients():
    """Make DerivClients (fast backoff, no ping unless asked) that are closed after the test."""
    made = []

    def make(url=None, **options):
        options.setdefault("backoff_initial", 0.01)
        options.setdefault("backoff_max", 0.05)
        options.setdefault("ping_interval", None)
        options.setdefault("request_timeout", 3.0)
        client = DerivClient(url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def public(fake_deriv, clients):
    return clients(fake_deriv.ws_public_url, name="public").connect()


@pytest.fixture
def demo(fake_deriv, clients):
    provider = OtpProvider(fake_deriv)
    client = clients(url_provider=provider, name="demo").connect()
    client.provider = provider
    return client


@pytest.fixture(name="deriv_on")
def deriv_on_fixture(db, settings, fake_deriv):
    """Nexus pointed at the fake Deriv, the way DERIV_* environment variables do it."""
    settings.DERIV = {
        **settings.DERIV,
        "ENABLED": True,
        "CLIENT_ID": fake_deriv.client_id,
        "AUTH_URL": fake_deriv.auth_base,
        "REST_BASE": fake_deriv.rest_base,
        "WS_PUBLIC": fake_deriv.ws_public_url,
    }
    settings.SOCIALACCOUNT_PROVIDERS = {
        "deriv": {
            **settings.SOCIALACCOUNT_PROVIDERS["deriv"],
            "APPS": [{"client_id": fake_deriv.client_id, "secret": ""}],
        }
    }
    return fake_deriv


@pytest.fixture(scope="session", name="redis_for_layer")
def redis_for_layer_fixture():
    with embedded_redis_server() as server:
        yield server


@pytest.fixture(name="redis_layer")
def redis_layer_fixture(redis_for_layer, settings):
    """The channel layer production uses (Redis pub/sub), so requests cross threads as they cross processes."""
    from channels.layers import channel_layers

    from nexus.settings import redis_channel_layers

    settings.CHANNEL_LAYERS = redis_channel_layers(redis_for_layer.url)
    channel_layers.backends.clear()
    yield
    gateway.close()
    channel_layers.backends.clear()


@pytest.fixture(name="manager")
def manager_fixture(redis_layer, deriv_on):
    running = Manager().start()
    yield running
    running.stop()


@pytest.fixture(name="trader")
def trader_fixture(user, deriv_on):
    link_user(user, deriv_on)
    return user


@pytest.fixture(name="account")
def account_fixture(trader, manager, deriv_on):
    """The trader's Deriv demo account, its socket up."""
    demo = deriv(trader, AccountType.DERIV_DEMO)
    session = manager.session(demo)
    wait_for(lambda: session.connected and session.balance_sub is not None and session.inbox.empty(), timeout=10)
    return demo
