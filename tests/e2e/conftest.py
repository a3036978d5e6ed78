"""Real headless Chromium (Debian's) driven by Playwright, against pytest-django's live server."""

import os
import shutil
import threading

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
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


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def running_feed(transactional_db):
    """The real feed in a background thread, ticking the OTC markets every 200 ms."""
    from django.db import connection

    from apps.markets.feed import OtcFeed
    from apps.markets.models import Market
    from apps.markets.seed import seed_markets

    seed_markets()
    Market.objects.update(tick_interval_ms=200)
    stop = threading.Event()
    feed = OtcFeed()

    def run():
        try:
            feed.run_forever(should_stop=stop.is_set)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield feed
    stop.set()
    thread.join(timeout=10)
