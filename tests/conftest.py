import pytest
from django.core.cache import cache

from apps.ledger.checks import ledger_breaches


def _uses_db(request) -> bool:
    names = set(request.fixturenames)
    return bool(request.node.get_closest_marker("django_db") or names & {"db", "transactional_db", "live_server"})


@pytest.fixture(autouse=True)
def ledger_invariants_hold(request):
    """After every test that touched the database, every money invariant still holds."""
    if not _uses_db(request):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    cache.clear()
    yield
    breaches = ledger_breaches()
    assert not breaches, "ledger invariants broken:\n" + "\n".join(breaches)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users: a cheap hasher keeps the suite quick (production keeps the default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def enterprise_plan_by_default(settings):
    """Tests outside billing assume no plan limits: the default plan is Enterprise unless a test opts out."""
    settings.BILLING = {**settings.BILLING, "DEFAULT_PLAN": "enterprise"}


@pytest.fixture(autouse=True)
def plans_seeded(request):
    """Transactional tests flush the database after each test: the plans the migration seeds are put back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction")
    if not (transactional or set(request.fixturenames) & {"transactional_db", "live_server", "live_stack"}):
        return
    from importlib import import_module

    from django.apps import apps

    request.getfixturevalue("_django_db_helper")
    import_module("apps.billing.migrations.0002_plans").seed(apps, None)


@pytest.fixture
def free_plan_by_default(settings):
    """Billing tests opt into the Free plan's limits for users without a subscription."""
    settings.BILLING = {**settings.BILLING, "DEFAULT_PLAN": "free"}


@pytest.fixture
def user(db):
    from apps.users.models import User

    return User.objects.create_user("trader@example.com", "correct horse battery staple")


@pytest.fixture
def other_user(db):
    from apps.users.models import User

    return User.objects.create_user("outsider@example.com", "correct horse battery staple")


@pytest.fixture
def admin_client(client, admin_user):
    """A superuser in the admin: staff need a second factor there, so this one has an app and used it."""
    from tests.support.mfa import sign_in

    sign_in(client, admin_user, mfa=True)
    return client


@pytest.fixture
def demo_account(user):
    from apps.accounts.services import account_open_demo

    return account_open_demo(user=user)


@pytest.fixture
def markets(db):
    from apps.markets.seed import seed_markets

    return {m.symbol: m for m in seed_markets()}


@pytest.fixture
def feed(markets, django_capture_on_commit_callbacks):
    """A feed whose clock the test drives: `feed.tick()` writes one tick on every market.

    After-commit work (settlement enqueued per tick, run inline) happens as
    in production, also inside a test's transaction.
    """
    import datetime

    from django.utils import timezone

    from apps.markets.feed import OtcFeed

    class TestFeed(OtcFeed):
        def __init__(self):
            self.now = timezone.now() - datetime.timedelta(seconds=1)
            super().__init__(clock=lambda: self.now, seeded=True)

        def tick(self, n: int = 1, seconds: float = 1.0):
            written = []
            for _ in range(n):
                self.now += datetime.timedelta(seconds=seconds)
                self.refresh()
                with django_capture_on_commit_callbacks(execute=True):
                    written += self.step(self.now)
            return written

    f = TestFeed()
    f.tick()
    f.markets_by_symbol = markets
    return f


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright keeps an event loop on the main thread for the rest of the session."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
