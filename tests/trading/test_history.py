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


# --- Sorting, quick ranges, CSV export --------------------------------------------


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("bought", ["jan10", "jan11", "jan12"]),
        ("-bought", ["jan12", "jan11", "jan10"]),
        ("market", ["jan12", "jan10", "jan11"]),  # HIST_ONE's two (newest first), then HIST_TWO
    ],
)
def test_columns_sort_by_a_whitelisted_name(trader, contracts, sort, order):
    response = trader.get(reverse("trading:history"), {"sort": sort})
    assert [c.pk for c in response.context["page"].object_list] == [contracts[k].pk for k in order]


def test_the_pnl_column_sorts_on_what_each_contract_made(trader, contracts):
    response = trader.get(reverse("trading:history"), {"sort": "-pnl", "result": "WON"})
    assert [c.pk for c in response.context["page"].object_list] == [contracts["jan11"].pk]
    assert trader.get(reverse("trading:history"), {"sort": "pnl"}).status_code == 200


@pytest.mark.parametrize("sort", ["purchased_at", "user__password", "bogus", "-id"])
def test_a_sort_not_offered_is_an_error_not_a_field_name(trader, contracts, sort):
    response = trader.get(reverse("trading:history"), {"sort": sort})
    body = response.content.decode()
    assert '<p class="error" id="id_sort_error">Sort by one of the columns.</p>' in body
    assert _listed(response) == set()


def test_the_headings_link_each_sort_and_say_which_is_current(trader, contracts):
    body = trader.get(reverse("trading:history"), {"market": "HIST_ONE", "sort": "stake"}).content.decode()
    assert 'aria-sort="ascending"><a href="?market=HIST_ONE&amp;sort=-stake"' in body
    assert 'href="?market=HIST_ONE&amp;sort=pnl"' in body
    assert '<input type="hidden" name="sort" value="stake">' in body


def test_quick_ranges_set_both_dates_in_the_current_time_zone(trader, contracts):
    today = timezone.localdate()
    body = trader.get(reverse("trading:history"), {"market": "HIST_ONE"}).content.decode()
    week = f"?market=HIST_ONE&amp;date_from={(today - datetime.timedelta(days=6)).isoformat()}&amp;date_to={today}"
    assert f'href="{week}">7 days</a>' in body
    assert f"date_from={today}&amp;date_to={today}" in body
    assert f"date_from={(today - datetime.timedelta(days=29)).isoformat()}" in body
    chosen = trader.get(reverse("trading:history"), {"date_from": today.isoformat(), "date_to": today.isoformat()})
    assert 'aria-current="true">Today</a>' in chosen.content.decode()


def _csv(response) -> list[list[str]]:
    import csv
    import io

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_export_streams_the_filtered_sorted_history(trader, contracts):
    response = trader.get(reverse("trading:history_export"), {"market": "HIST_ONE", "sort": "bought"})
    rows = _csv(response)
    assert rows[0][:3] == ["contract", "bought", "market"]
    assert [int(r[0]) for r in rows[1:]] == [contracts["jan10"].pk, contracts["jan12"].pk]
    first = Contract.objects.get(pk=contracts["jan10"].pk)
    header = rows[0]
    line = dict(zip(header, rows[1], strict=True))
    assert line["stake"] == str(first.stake)  # exact decimal text
    assert line["bought"] == timezone.localtime(first.purchased_at).strftime("%Y-%m-%d %H:%M:%S%z")
    assert line["bought"].startswith("2026-01-10 23:30:00")


def test_the_csv_export_lists_a_won_contracts_payment_as_text(trader, contracts):
    rows = _csv(trader.get(reverse("trading:history_export"), {"result": "WON"}))
    line = dict(zip(rows[0], rows[1], strict=True))
    won = Contract.objects.get(pk=contracts["jan11"].pk)
    assert (line["paid"], line["pnl"], line["result"]) == (str(won.amount_paid), str(won.profit), "Won")


def test_the_csv_export_with_bad_filters_sends_back_to_the_page_with_its_errors(trader, contracts):
    response = trader.get(reverse("trading:history_export"), {"date_from": "2026-01-12", "date_to": "2026-01-10"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('trading:history')}?date_from=2026-01-12&date_to=2026-01-10"


def test_the_csv_export_is_the_traders_own(client, contracts, other_user):
    client.force_login(other_user)
    response = client.get(reverse("trading:history_export"))
    if response.status_code == 200:
        assert len(_csv(response)) == 1  # the heading only
    else:
        assert response.status_code == 404
