"""Revenue figures per day, realm and partner, summed from a hand-built ledger."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ledger.models import Realm
from apps.revenue.reports import RangeForm, revenue_by_day, revenue_report, top_partners
from apps.users.models import User
from tests.revenue.ledger_support import Books, on_day
from tests.revenue.support import partner, refer

D1, D2, D3 = datetime.date(2026, 11, 2), datetime.date(2026, 11, 3), datetime.date(2026, 11, 4)


@pytest.fixture
def ledger(monkeypatch, user):
    """Two days of demo money and one of real money; a partner with markup in each realm."""
    with on_day(monkeypatch, D1):
        demo, real = Books(user, Realm.DEMO), Books(user, Realm.REAL)
        ada, bob = partner("ada"), partner("bob")
        refer(user, ada)
        for email in ("x@example.com", "y@example.com"):
            refer(User.objects.create_user(email, "pw"), bob)
        demo.commission("2.00")
        demo.commission("0.50")
        demo.markup(ada, "1.00")
        demo.lost("10.00")
        demo.won("4.00")
        real.commission("3.00")
        real.markup(bob, "1.50")
        real.won("8.00")  # a real win, no loss: the house is down
    with on_day(monkeypatch, D2, hour=23):
        demo.commission("1.25")
        demo.markup(bob, "0.75")
        demo.lost("5.00")
    with on_day(monkeypatch, D3):
        demo.commission("100.00")  # outside the range asked below
    return {"ada": ada, "bob": bob}


def test_days_sum_commission_markup_and_the_house_per_realm(ledger):
    rows = {(r.day, r.realm): r for r in revenue_by_day(D1, D2)}

    assert set(rows) == {(D1, "DEMO"), (D1, "REAL"), (D2, "DEMO")}
    d1 = rows[(D1, "DEMO")]
    assert (d1.commission, d1.markup, d1.house_won, d1.house_paid, d1.house_pnl) == (
        Decimal("2.50"),
        Decimal("1.00"),
        Decimal("10.00"),
        Decimal("4.00"),
        Decimal("6.00"),
    )
    r1 = rows[(D1, "REAL")]
    assert (r1.commission, r1.markup, r1.house_pnl) == (Decimal("3.00"), Decimal("1.50"), Decimal("-8.00"))
    d2 = rows[(D2, "DEMO")]
    assert (d2.commission, d2.markup, d2.house_pnl) == (Decimal("1.25"), Decimal("0.75"), Decimal("5.00"))


def test_totals_and_top_partners_over_the_range(ledger):
    report = revenue_report(D1, D2)

    totals = {t.realm: (t.commission, t.markup, t.house_pnl) for t in report.totals}
    assert totals == {
        "DEMO": (Decimal("3.75"), Decimal("1.75"), Decimal("11.00")),
        "REAL": (Decimal("3.00"), Decimal("1.50"), Decimal("-8.00")),
    }
    partners = [(p.code, p.realm, p.earned, p.signups) for p in report.partners]
    assert partners == [
        ("bob", "REAL", Decimal("1.50"), 2),
        ("ada", "DEMO", Decimal("1.00"), 1),
        ("bob", "DEMO", Decimal("0.75"), 2),
    ]


def test_a_day_outside_the_range_is_left_out(ledger):
    assert [r.day for r in revenue_by_day(D3, D3)] == [D3]
    assert revenue_by_day(D3 + datetime.timedelta(days=1), D3 + datetime.timedelta(days=9)) == []
    assert top_partners(D3, D3) == []


def test_the_report_is_a_few_queries_whatever_the_number_of_transfers(ledger):
    with CaptureQueriesContext(connection) as queries:
        revenue_report(D1, D3)
    assert len(queries) <= 3


def test_the_chart_series_follow_the_days(ledger):
    series = revenue_report(D1, D2).chart_series()
    assert series["DEMO USD"]["commission"] == [
        {"time": "2026-11-02", "value": 2.5},
        {"time": "2026-11-03", "value": 1.25},
    ]
    assert series["REAL USD"]["house"] == [{"time": "2026-11-02", "value": -8.0}]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "date_to", "The end cannot be before the start."),
        ({"date_from": "2025-01-01", "date_to": "2026-11-01"}, "date_from", "Choose at most 366 days."),
        ({"date_from": "yesterday"}, "date_from", "Enter a valid date."),
    ],
)
def test_the_range_form_says_what_is_wrong_next_to_the_field(data, field, message):
    form = RangeForm(data)
    assert not form.is_valid()
    assert form.errors[field] == [message]


def test_the_range_defaults_to_the_last_30_days(settings):
    form = RangeForm({})
    assert form.is_valid()
    start, end = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    assert (end - start).days == 29
