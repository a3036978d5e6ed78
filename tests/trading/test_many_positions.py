"""A trader with thousands of open positions still gets the trade page and its live positions."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse

from apps.trading.fragments import positions_fragment
from apps.trading.models import Contract, Status
from apps.trading.selectors import POSITIONS_SHOWN
from apps.trading.services import Buyer, Order, contracts_buy_many
from tests.trading.support import order_form

OPEN = 1500


@pytest.fixture
def crowded(demo_account, feed, django_capture_on_commit_callbacks):
    """1,500 open tick contracts on one market, bought in one batch, with their entry ticks written."""
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    buyer = Buyer.of(demo_account)
    orders = [Order(buyer, "RISE", Decimal("1.00"), 10, "t", f"many-{i}") for i in range(OPEN)]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        results = contracts_buy_many(market=market, orders=orders)
    assert all(isinstance(result, int) for result in results)
    feed.tick()
    assert Contract.objects.filter(status=Status.OPEN).count() == OPEN
    return demo_account


def test_the_trade_page_lists_the_oldest_positions_and_counts_the_rest(client, crowded):
    client.force_login(crowded.user)

    response = client.get(reverse("trading:trade"))

    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<tr data-contract=") == POSITIONS_SHOWN
    assert f'data-testid="open-count">{OPEN}<' in body
    assert f"{OPEN - POSITIONS_SHOWN} more open positions" in body


def test_the_pushed_positions_fragment_renders_with_entry_spots(crowded):
    html = positions_fragment(crowded.user)

    assert html.count("<tr data-contract=") == POSITIONS_SHOWN
    assert f"{OPEN - POSITIONS_SHOWN} more open positions" in html
    # Every listed contract shows its entry spot (the tick after its purchase), none "next tick".
    assert "next tick" not in html
    first = Contract.objects.order_by("purchased_at", "id").first()
    entry = first.market.ticks.get(seq=first.purchase_seq + 1).price
    assert f'<tr data-contract="{first.pk}" ' in html
    assert f"{entry:.{first.market.decimals}f}" in html


def test_a_few_positions_are_all_listed_without_a_count(client, demo_account, feed):
    client.force_login(demo_account.user)
    for key in ("a", "b"):
        client.post(
            reverse("trading:buy"),
            order_form(direction="FALL", stake="5.00", idempotency_key=key),
        )

    body = client.get(reverse("trading:trade")).content.decode()

    assert body.count("<tr data-contract=") == 2
    assert 'data-testid="positions-more"' not in body
