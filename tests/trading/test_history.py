"""The history page's filters: market, result and days, and what an invalid filter shows."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle

from .support import buy, make_market, write_ticks


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


@pytest.fixture
def contracts(demo_account):
    """Three contracts: two markets, two results, bought on three days."""
    first, second = make_market("HIST_ONE"), make_market("HIST_TWO")
    bought = {
        "jan10": buy(demo_account, first),
        "jan11": buy(demo_account, second),
        "jan12": buy(demo_account, first),
    }
    # The second market rises: its contract wins.
    write_ticks(second, "100.00", "101.00")
    contracts_settle()
    assert Contract.objects.get(pk=bought["jan11"].pk).status == Status.WON
    tz = timezone.get_current_timezone()
    for day, contract in zip((10, 11, 12), bought.values(), strict=True):
        # Late in the day: a filter that compared instants to midnight of the end day would miss it.
        at = datetime.datetime(2026, 1, day, 23, 30, tzinfo=tz)
        Contract.objects.filter(pk=contract.pk).update(purchased_at=at)
    return bought


def _listed(response) -> set[int]:
    return {c.pk for c in response.context["page"].object_list}


def test_without_filters_every_contract_is_listed(trader, contracts):
    response = trader.get(reverse("trading:history"))

    assert _listed(response) == {c.pk for c in contracts.values()}


def test_the_market_filter_takes_a_symbol(trader, contracts):
    response = trader.get(reverse("trading:history"), {"market": "HIST_ONE"})

    assert _listed(response) == {contracts["jan10"].pk, contracts["jan12"].pk}


def test_the_result_filter_takes_a_status(trader, contracts):
    response = trader.get(reverse("trading:history"), {"result": "WON"})

    assert _listed(response) == {contracts["jan11"].pk}
    assert response.context["stats"].wins == 1


def test_the_date_range_includes_both_ends(trader, contracts):
    response = trader.get(reverse("trading:history"), {"date_from": "2026-01-11", "date_to": "2026-01-12"})

    assert _listed(response) == {contracts["jan11"].pk, contracts["jan12"].pk}


def test_filters_combine(trader, contracts):
    response = trader.get(reverse("trading:history"), {"market": "HIST_ONE", "date_to": "2026-01-11"})

    assert _listed(response) == {contracts["jan10"].pk}


def test_pages_keep_the_filters(trader, contracts):
    response = trader.get(reverse("trading:history"), {"market": "HIST_ONE", "page": "1"})

    assert response.context["query"] == "market=HIST_ONE"
    assert _listed(response) == {contracts["jan10"].pk, contracts["jan12"].pk}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"date_from": "2026-01-12", "date_to": "2026-01-10"}, "date_to", "The end date is before the start date."),
        ({"date_from": "12/01/2026x"}, "date_from", "Enter a date like 2026-01-31."),
        ({"market": "NOPE"}, "market", "That market does not exist."),
        ({"result": "MAYBE"}, "result", "Choose one of the results."),
    ],
)
def test_an_invalid_filter_says_so_next_to_its_field_and_lists_nothing(trader, contracts, query, field, message):
    response = trader.get(reverse("trading:history"), query)

    body = response.content.decode()
    assert f'<p class="error" id="id_{field}_error">{message}</p>' in body
    assert 'data-testid="filters-invalid"' in body
    assert _listed(response) == set()


def test_with_htmx_the_errors_come_with_the_results(trader, contracts):
    response = trader.get(
        reverse("trading:history"),
        {"date_from": "2026-01-12", "date_to": "2026-01-10"},
        headers={"HX-Request": "true", "HX-Target": "history"},
    )

    body = response.content.decode()
    assert "<h1>" not in body
    assert 'id="id_date_to_error" hx-swap-oob="true">The end date is before the start date.</p>' in body
    # The other slots are emptied, so an error fixed since the last change disappears.
    assert '<p class="error" id="id_date_from_error" hx-swap-oob="true"></p>' in body
    assert 'data-testid="filters-invalid"' in body


def test_with_htmx_valid_filters_empty_every_error_slot(trader, contracts):
    response = trader.get(
        reverse("trading:history"), {"result": "WON"}, headers={"HX-Request": "true", "HX-Target": "history"}
    )

    body = response.content.decode()
    assert '<p class="error" id="id_date_to_error" hx-swap-oob="true"></p>' in body
    assert _listed(response) == {contracts["jan11"].pk}


def test_history_and_the_trade_page_show_a_contract_with_the_same_row(trader, contracts):
    contract = Contract.objects.get(pk=contracts["jan11"].pk)
    link = f'<a href="{reverse("trading:contract", args=[contract.pk])}">'
    row = f'<tr data-contract="{contract.pk}" data-status="WON">'

    history = trader.get(reverse("trading:history")).content.decode()
    trade = trader.get(reverse("trading:trade"), {"market": "HIST_TWO"}).content.decode()

    assert row in history and row in trade
    assert f"{link}2026-01-11 23:30:00</a>" in history
    assert f"{link}{contract.market.name}</a>" in trade
