"""The staff revenue page: who may open it, the figures, the range's checks and other apps' sections."""

import datetime

import pytest
from django.urls import reverse

from apps.revenue.reports import Section
from apps.revenue.signals import revenue_report_requested
from tests.revenue.ledger_support import Books, on_day
from tests.revenue.support import partner
from tests.support.mfa import sign_in

URL = "/staff/revenue/"


def test_the_page_lives_under_staff():
    assert reverse("revenue_staff:revenue") == URL


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_traders_are_refused_and_staff_need_their_second_factor(client, user, django_user_model):
    client.force_login(user)
    assert client.get(URL).status_code == 403
    staff = django_user_model.objects.create_user("staff@example.com", "pw-staff-123", is_staff=True)
    sign_in(client, staff, mfa=False)
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_activate_totp"))


@pytest.fixture
def staff_client(admin_client):
    return admin_client


def test_staff_see_the_days_totals_and_partners(staff_client, user, monkeypatch):
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    with on_day(monkeypatch, yesterday):
        books = Books(user)
        books.commission("2.00")
        books.markup(partner("ada"), "1.00")
        books.lost("7.00")

    response = staff_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="days"' in page and 'data-testid="revenue-chart"' in page
    assert "<td>ada</td>" not in page and ">ada</a>" in page
    (total,) = response.context["report"].totals
    assert (str(total.commission), str(total.markup), str(total.house_pnl)) == ("2.00", "1.00", "7.00")
    assert 'id="revenue-data"' in page


def test_an_empty_range_says_so(staff_client):
    page = staff_client.get(URL, {"date_from": "2020-01-01", "date_to": "2020-01-31"}).content.decode()
    assert "Nothing was earned or paid in these days." in page
    assert 'data-testid="revenue-chart"' not in page


def test_a_bad_range_is_refused_next_to_the_field(staff_client):
    response = staff_client.get(URL, {"date_from": "2026-11-05", "date_to": "2026-11-01"})
    assert response.status_code == 200 and response.context["report"] is None
    assert 'data-testid="error-date_to">The end cannot be before the start.<' in response.content.decode()


def test_other_apps_add_sections(staff_client):
    def section(sender, date_from, date_to, **kwargs):
        return Section(
            "Elsewhere", "revenue/staff_deriv_markup.html", {"problem": f"{(date_to - date_from).days} days"}
        )

    revenue_report_requested.connect(section, dispatch_uid="test.section")
    try:
        response = staff_client.get(URL, {"date_from": "2026-11-01", "date_to": "2026-11-03"})
    finally:
        revenue_report_requested.disconnect(dispatch_uid="test.section")
    page = response.content.decode()
    assert "<h2>Elsewhere</h2>" in page and "2 days" in page
