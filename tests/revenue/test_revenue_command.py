"""`manage.py revenue`: the staff page's figures as a table or CSV, and clear errors for bad dates."""

import csv
import datetime
import io

import pytest
from django.core.management import CommandError, call_command

from tests.revenue.ledger_support import Books, on_day
from tests.revenue.support import partner, refer

DAY = datetime.date(2026, 11, 2)


@pytest.fixture
def ledger(monkeypatch, user):
    with on_day(monkeypatch, DAY):
        books = Books(user)
        ada = partner("ada")
        refer(user, ada)
        books.commission("2.00")
        books.markup(ada, "1.00")
        books.lost("10.00")
        books.won("4.00")


def run(*args) -> str:
    out = io.StringIO()
    call_command("revenue", *args, stdout=out)
    return out.getvalue()


def test_the_table_shows_days_totals_and_partners(ledger):
    out = run("--from", "2026-11-01", "--to", "2026-11-30")

    assert "Revenue from 2026-11-01 to 2026-11-30" in out
    lines = out.splitlines()
    assert any(line.split() == ["2026-11-02", "DEMO", "USD", "2.00", "1.00", "10.00", "4.00", "6.00"] for line in lines)
    assert any(line.split() == ["DEMO", "USD", "2.00", "1.00", "6.00"] for line in lines)
    assert any(line.split() == ["ada", "DEMO", "USD", "1", "1.00"] for line in lines)


def test_csv_goes_to_standard_output(ledger):
    rows = list(csv.reader(io.StringIO(run("--from", "2026-11-01", "--to", "2026-11-30", "--csv"))))

    assert rows[0] == [
        "section",
        "day",
        "realm",
        "currency",
        "commission",
        "markup",
        "house_took",
        "house_paid",
        "house_pnl",
    ]
    assert ["day", "2026-11-02", "DEMO", "USD", "2.00", "1.00", "10.00", "4.00", "6.00"] in rows
    assert ["total", "", "DEMO", "USD", "2.00", "1.00", "", "", "6.00"] in rows
    assert ["partner", "ada", "DEMO", "USD", "1", "1.00"] in rows


def test_an_empty_range_says_so(db):
    out = run("--from", "2020-01-01", "--to", "2020-01-02")
    assert "Nothing was earned or paid in these days." in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13-01"), "--from Enter a valid date."),
        (("--from", "2026-11-05", "--to", "2026-11-01"), "--to The end cannot be before the start."),
        (("--from", "2024-01-01", "--to", "2026-01-01"), "--from Choose at most 366 days."),
    ],
)
def test_bad_dates_are_a_command_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
