"""Per-user rate limits: over the limit a write answers 429 with a message and writes nothing."""

import html

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.common.ratelimit import rate_limit_hit, rate_limit_message
from apps.ledger.models import LedgerAccount, Transfer, TransferKind
from apps.trading.models import Contract
from tests.trading.support import order_form

HX = {"HX-Request": "true"}


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


def order(key: str) -> dict:
    return order_form(stake="1.00", idempotency_key=key)


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_limits_are_settings_with_the_documented_defaults(settings):
    assert settings.RATE_LIMITS == {
        "purchases": "60/m",
        "demo_resets": "5/h",
        "bot_writes": "30/m",
        "backtests": "10/h",
        "deriv_refresh": "6/m",
        "exchange_connects": "10/h",
    }


@pytest.mark.django_db
def test_a_window_counts_each_user_apart_and_starts_over(settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"purchases": "2/m"}
    start = 6000.0  # the start of a one-minute window
    assert rate_limit_hit(scope="purchases", user_id=1, now=start) is None
    assert rate_limit_hit(scope="purchases", user_id=1, now=start + 1) is None
    assert rate_limit_hit(scope="purchases", user_id=1, now=start + 20) == 40
    assert rate_limit_hit(scope="purchases", user_id=2, now=start + 20) is None
    assert rate_limit_hit(scope="demo_resets", user_id=1, now=start + 20) is None
    assert rate_limit_hit(scope="purchases", user_id=1, now=start + 60) is None


def test_the_message_says_what_how_many_and_how_long():
    assert rate_limit_message(scope="purchases", wait_s=1) == (
        "Too many purchases: at most 60 a minute. Try again in 1 second."
    )
    assert rate_limit_message(scope="demo_resets", wait_s=1800) == (
        "Too many demo account resets: at most 5 an hour. Try again in 30 minutes."
    )


@pytest.mark.django_db
def test_a_cache_that_does_not_answer_lets_the_write_through(settings, caplog):
    # Nothing listens on port 1: every cache call fails to connect.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    assert rate_limit_hit(scope="purchases", user_id=1) is None
    assert "rate limit purchases not checked" in caplog.text


def test_a_purchase_over_the_limit_answers_429_and_buys_nothing(trader, feed, demo_account, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"purchases": "2/m"}
    assert trader.post(reverse("trading:buy"), order("a")).status_code == 302
    assert trader.post(reverse("trading:buy"), order("b"), headers=HX).status_code == 200
    balance = LedgerAccount.objects.get(pk=demo_account.ledger_account_id).balance

    page = trader.post(reverse("trading:buy"), order("c"), headers={"referer": "http://testserver/trade/"})
    assert page.status_code == 429
    assert "Too many purchases: at most 2 a minute. Try again in" in text(page)
    assert 'data-testid="rate-limited"' in page.content.decode()
    assert 'href="http://testserver/trade/"' in page.content.decode()
    assert int(page["Retry-After"]) >= 1

    toast = trader.post(reverse("trading:buy"), order("d"), headers=HX)
    assert toast.status_code == 429
    assert toast["HX-Retarget"] == "#toasts" and toast["HX-Reswap"] == "beforeend"
    body = text(toast)
    assert body.startswith('<div class="toast') and "<html" not in body
    assert "Too many purchases" in body

    assert Contract.objects.count() == 2
    assert LedgerAccount.objects.get(pk=demo_account.ledger_account_id).balance == balance


def test_a_page_elsewhere_is_not_offered_as_the_way_back(trader, feed, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"purchases": "1/m"}
    trader.post(reverse("trading:buy"), order("a"))
    page = trader.post(reverse("trading:buy"), order("b"), headers={"referer": "https://evil.example/"})
    assert page.status_code == 429
    assert "evil.example" not in page.content.decode()


def test_a_demo_reset_over_the_limit_answers_429_and_resets_nothing(trader, demo_account, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"demo_resets": "1/h"}
    url = reverse("accounts:reset", args=[demo_account.pk])
    assert trader.post(url).status_code == 302
    resets = Transfer.objects.filter(kind=TransferKind.RESET).count()
    audited = AuditEvent.objects.count()

    response = trader.post(url)
    assert response.status_code == 429
    assert "Too many demo account resets: at most 1 an hour. Try again in" in text(response)
    assert Transfer.objects.filter(kind=TransferKind.RESET).count() == resets
    assert AuditEvent.objects.count() == audited


def test_pages_and_other_users_are_not_limited(trader, client, demo_account, other_user, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"demo_resets": "1/h"}
    trader.post(reverse("accounts:reset", args=[demo_account.pk]))
    assert trader.post(reverse("accounts:reset", args=[demo_account.pk])).status_code == 429
    assert trader.get(reverse("trading:history")).status_code == 200
    from apps.accounts.services import account_open_demo

    theirs = account_open_demo(user=other_user)
    client.force_login(other_user)
    assert client.post(reverse("accounts:reset", args=[theirs.pk])).status_code == 302
