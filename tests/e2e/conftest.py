"""Real headless Chromium (Debian's) driven by Playwright, against the real stack.

The stack is what production runs: daphne serving HTTP and WebSockets in its
own process, a Redis channel layer between processes, and the real feed
(in a thread of the test process) writing ticks, enqueuing settlement (run
inline) and pushing fragments; for Deriv, `run_deriv` in its own process too.
Everything shares the test database file.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e import HOME
from tests.support.redis import embedded_redis_server, free_port

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
BASE_DIR = Path(__file__).resolve().parents[2]
# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make between browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the test command installs it (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def redis_server():
    with embedded_redis_server() as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    if redis_server.process.poll() is not None:
        redis_server.start()
    return redis_server.url


class WebServer:
    """daphne in a subprocess, restartable on the same port (to cut every socket)."""

    def __init__(self, env: dict, port: int, log: Path):
        self.env, self.port, self.log = env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "nexus.asgi:application"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=2)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("daphne did not start:\n" + self.log.read_text()[-3000:]) from None
                time.sleep(0.1)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # Open WebSockets can hold a graceful shutdown: cut them.
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def live_stack_env():
    """Extra environment for the web process; a test module overrides it (e.g. DERIV_* at a fake Deriv)."""
    return {}


@pytest.fixture
def live_stack(transactional_db, redis_url, settings, tmp_path, live_stack_env):
    from channels.layers import channel_layers
    from django.db import connection

    from apps.common.crypto import development_key
    from nexus.settings import redis_channel_layers

    # This process pushes (feed thread, services run by tests) through the
    # same Redis the web process listens on.
    settings.CHANNEL_LAYERS = redis_channel_layers(redis_url)
    channel_layers.backends.clear()
    mail_dir = tmp_path / "mail"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "REDIS_URL": redis_url,
        "DEBUG": "on",
        "SECRET_KEY": "e2e-only-secret-key",
        # The same key ring as this process: secrets it stores (two-factor, Deriv tokens) read there.
        "DERIV_FERNET_KEYS": ",".join(settings.DERIV["FERNET_KEYS"] or [development_key(settings.SECRET_KEY).decode()]),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "Q_SYNC": "on",
        "LOG_LEVEL": "WARNING",
        # No plan limits unless a test module's live_stack_env sets DEFAULT_PLAN (e.g. "free").
        "DEFAULT_PLAN": settings.BILLING["DEFAULT_PLAN"],
        **live_stack_env,
    }
    server = WebServer(env, free_port(), tmp_path / "daphne.log")
    server.start()
    server.mail_dir = mail_dir
    yield server
    server.stop()
    channel_layers.backends.clear()


@pytest.fixture
def page(browser, live_stack):
    context = browser.new_context(base_url=live_stack.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


class FeedThread:
    """The real feed ticking every OTC market every 200 ms, stoppable and restartable."""

    def __init__(self):
        from apps.markets.feed import OtcFeed

        self.feed = OtcFeed()
        self.thread = None
        self.stopping = threading.Event()

    def start(self):
        from django.db import connection

        self.stopping.clear()

        def run():
            try:
                self.feed.run_forever(should_stop=self.stopping.is_set)
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)


@pytest.fixture
def running_feed(live_stack):
    from apps.markets.models import Market
    from apps.markets.seed import seed_markets

    seed_markets()
    Market.objects.update(tick_interval_ms=200)
    feed = FeedThread()
    feed.start()
    yield feed
    feed.stop()


@pytest.fixture
def signed_in(page, running_feed, django_user_model):
    """A verified trader with a demo account, signed in on the trading page."""
    from allauth.account.models import EmailAddress

    from apps.accounts.services import account_open_demo

    user = django_user_model.objects.create_user("trader@example.com", "a-long-demo-passphrase")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    account_open_demo(user=user)
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", "a-long-demo-passphrase")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(HOME)  # signed in, a trader lands on the dashboard
    page.goto("/trade/")
    # Live from here on: a pushed tick has replaced the server-rendered quote.
    first = page.locator("#quote").get_attribute("data-seq")
    expect(page.locator("#quote")).not_to_have_attribute("data-seq", first, timeout=20_000)
    page.user = user
    return page


@pytest.fixture(autouse=True)
def real_password_hashing(fast_password_hashing, settings):
    """Users made here sign in through the web process, which uses the production hashers."""
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


class DerivFeedThread:
    """What `runfeed --source deriv` runs: the Deriv feed, in this process (like the OTC FeedThread).

    On the test's settings: DERIV pointed at a fake and the Redis channel layer the web process uses.
    """

    def __init__(self):
        from apps.deriv.feed import DerivFeed

        self.feed = DerivFeed()
        self.stopping = threading.Event()
        self.thread = None

    def start(self):
        from django.db import connection

        def run():
            try:
                self.feed.run_forever(should_stop=self.stopping.is_set)
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=15)


class DerivManagerProcess:
    """`manage.py run_deriv` in its own process, on the web process's environment (DERIV_* at the fake)."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log
        self.process = None

    def start(self):
        from apps.deriv import gateway

        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_deriv"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        # Up once it answers on the channel layer, where the web process asks it to buy.
        while not gateway.ping(timeout=1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("run_deriv did not start:\n" + self.log.read_text()[-3000:])

    def stop(self):
        from apps.deriv import gateway

        gateway.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: sockets closed, accounts shown disconnected
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def running_deriv(live_stack, tmp_path):
    """The Deriv feed and `run_deriv`, once the test has pointed settings.DERIV (and the web's env) at its fake."""
    feed = DerivFeedThread()
    feed.start()
    manager = DerivManagerProcess(live_stack.env, tmp_path / "run_deriv.log")
    try:
        manager.start()
        yield manager
    finally:
        manager.stop()
        feed.stop()
