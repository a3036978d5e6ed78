"""Redis down (cache, channel layer, task broker): what committed stays committed, finished from the database."""

import logging
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.ledger.models import Transfer, TransferKind
from apps.trading.models import Contract, Status
from apps.trading.tasks import settle_overdue
from nexus.settings import redis_caches
from tests.support.redis import embedded_redis, redis_unreachable
from tests.trading.support import order_form

from .support import balance, buy, make_market, write_ticks


@pytest.fixture
def redis_down(settings, monkeypatch):
    with redis_unreachable(settings, monkeypatch):
        yield


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


def _order(key: str) -> dict:
    return order_form(idempotency_key=key)


def _bought(account) -> Contract:
    contract = Contract.objects.get(account=account)
    assert contract.status == Status.OPEN
    assert Transfer.objects.filter(kind=TransferKind.STAKE, reference=f"contract:{contract.pk}").count() == 1
    assert balance(account) == Decimal("9990.00")
    return contract


def test_a_purchase_answers_its_redirect_and_the_money_moved(
    trader, feed, demo_account, redis_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = trader.post(reverse("trading:buy"), _order("k-1"))

    assert response.status_code == 302
    _bought(demo_account)
    page = trader.get(response["Location"])
    assert page.status_code == 200
    assert "Bought Rise on EUR/USD OTC" in page.content.decode()


def test_an_htmx_purchase_answers_its_confirmation_and_the_money_moved(
    trader, feed, demo_account, redis_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = trader.post(reverse("trading:buy"), _order("k-1"), headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert "Bought Rise on EUR/USD OTC" in response.content.decode()
    _bought(demo_account)


def test_a_settlement_commits_although_its_push_cannot_be_queued(
    demo_account, redis_down, django_capture_on_commit_callbacks, caplog
):
    market = make_market()
    contract = buy(demo_account, market, direction="RISE", duration=1)
    write_ticks(market, "100.00", "101.00")

    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        assert settle_overdue() == 1

    contract.refresh_from_db()
    assert contract.status == Status.WON
    assert balance(demo_account) == Decimal("10008.00")
    assert "apps.realtime.tasks.push_user_state not queued" in caplog.text


def test_settlement_lost_with_its_task_is_recovered_by_the_sweep_on_the_exit_tick(
    trader, feed, demo_account, redis_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        trader.post(reverse("trading:buy"), _order("k-1"))
    contract = _bought(demo_account)

    # The feed goes on writing ticks; each settlement task it hands over is lost.
    feed.tick(8)
    contract.refresh_from_db()
    assert contract.status == Status.OPEN

    # The worker's minute sweep reads what is due from the database.
    with django_capture_on_commit_callbacks(execute=True):
        assert settle_overdue() == 1
    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST, Status.TIE)
    exit_tick = contract.market.ticks.get(seq=contract.exit_seq)
    assert (contract.exit_spot, contract.exit_time) == (exit_tick.price, exit_tick.time)


def test_the_trade_page_says_live_updates_are_unavailable(trader, feed, redis_down):
    response = trader.get(reverse("trading:trade"))

    assert response.status_code == 200
    assert 'data-testid="live-unavailable"' in response.content.decode()


def test_with_redis_up_the_trade_page_says_nothing_of_it(trader, feed, settings):
    with embedded_redis() as url:
        settings.CACHES = redis_caches(url)
        response = trader.get(reverse("trading:trade"))

    assert 'data-testid="live-unavailable"' not in response.content.decode()
