import threading
import time

import pytest

from apps.deriv.client import DerivClient
from apps.deriv.rest import DerivRest
from tests.fakes.deriv.fixtures import fake_deriv_fixture  # noqa: F401


def wait_for(predicate, timeout: float = 3.0, interval: float = 0.005):
    """Poll until predicate() is truthy (the client reads on its own thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


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
