"""The app owner's markup statistics: the fake's endpoint, the REST client, and the staff page's section."""

import datetime
import json
import logging
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.deriv import adapter, markup, rest
from apps.deriv.errors import Forbidden, Unauthorized, ValidationError, WrongResponse

from .conftest import OtpProvider
from .test_fake_deriv import PROPOSAL, Raw


def fake_day(fake) -> datetime.date:
    return datetime.datetime.fromtimestamp(fake.now(), datetime.UTC).date()


def app_token(fake, scopes=("application_read",)) -> str:
    return fake.issue_token(scopes=scopes)


@pytest.fixture
def sold(fake_deriv):
    """Two contracts bought through the app on the fake's day (payouts 19.50 and 39.00)."""
    sock = Raw(OtpProvider(fake_deriv)())
    try:
        for amount in (10, 20):
            proposal = sock.ask({**PROPOSAL, "amount": amount})["proposal"]
            sock.ask({"buy": proposal["id"], "price": amount})
    finally:
        sock.close()
    return fake_deriv


def get(fake, query: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{fake.rest_base}/applications/v1/markup-statistics?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_fake_sums_the_markup_of_the_contracts_it_sold(sold):
    day = fake_day(sold).isoformat()
    status, body = get(sold, f"date_from={day}&date_to={day}", app_token(sold))

    assert status == 200 and body["meta"]["endpoint"] == "/applications/v1/markup-statistics"
    (row,) = body["data"]["breakdown"]
    # 2% of the payouts 19.50 and 39.00: 0.39 + 0.78.
    assert row == {
        "app_id": sold.client_id,
        "app_markup_usd": 1.17,
        "app_markup_value": 1.17,
        "dev_currcode": "USD",
        "transactions_count": 2,
    }
    assert (body["data"]["total_app_markup_usd"], body["data"]["total_transactions_count"]) == (1.17, 2)
    before = (fake_day(sold) - datetime.timedelta(days=3)).isoformat()
    _, empty = get(sold, f"date_from={before}&date_to={before}", app_token(sold))
    assert empty["data"] == {"breakdown": [], "total_app_markup_usd": 0.0, "total_transactions_count": 0}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_to=2026-01-01", "date_from is required"),
        ("date_from=01/02/2026&date_to=2026-01-01", "date_from must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"),
        ("date_from=2026-01-05&date_to=2026-01-01", "date_to must not be before date_from"),
    ],
)
def test_the_fake_refuses_bad_dates_in_deriv_s_envelope(fake_deriv, query, message):
    status, body = get(fake_deriv, query, app_token(fake_deriv))
    assert status == 400
    assert body["errors"] == [{"status": 400, "code": "ValidationError", "message": message}]
    assert body["meta"] == {"endpoint": "/applications/v1/markup-statistics", "method": "GET", "timing": 1}


def test_the_fake_wants_a_token_with_application_read(fake_deriv):
    assert get(fake_deriv, "date_from=2026-01-01&date_to=2026-01-01", "nope")[0] == 401
    status, body = get(fake_deriv, "date_from=2026-01-01&date_to=2026-01-01", app_token(fake_deriv, ("trade",)))
    assert status == 403 and body["errors"][0]["code"] == "Forbidden"


def test_the_client_reads_the_statistics(sold):
    day = fake_day(sold)
    stats = rest.DerivRest(app_token(sold), base_url=sold.rest_base).markup_statistics(day, day)

    assert stats.markup_usd == Decimal("1.17") and stats.transactions == 2
    assert stats.breakdown == (adapter.MarkupRow(sold.client_id, "USD", Decimal("1.17"), Decimal("1.17"), 2),)
    assert (stats.date_from, stats.date_to) == (day.isoformat(), day.isoformat())


def test_the_client_raises_deriv_s_errors(fake_deriv):
    day = fake_day(fake_deriv)
    with pytest.raises(Forbidden):
        rest.DerivRest(app_token(fake_deriv, ("trade",)), base_url=fake_deriv.rest_base).markup_statistics(day, day)
    with pytest.raises(Unauthorized):
        rest.DerivRest("unknown", base_url=fake_deriv.rest_base).markup_statistics(day, day)
    with pytest.raises(ValidationError, match="date_to must not be before date_from"):
        client = rest.DerivRest(app_token(fake_deriv), base_url=fake_deriv.rest_base)
        client.markup_statistics(day, day - datetime.timedelta(days=1))


@pytest.mark.parametrize(
    "data",
    [None, {"breakdown": "x"}, {"breakdown": [{"app_id": 1, "dev_currcode": "USD", "transactions_count": 1}]}],
)
def test_an_answer_without_its_figures_is_a_wrong_response(data):
    with pytest.raises(WrongResponse):
        adapter.parse_markup_statistics({"data": data}, date_from="2026-01-01", date_to="2026-01-01")


def test_strings_are_read_as_money():
    body = {
        "data": {
            "breakdown": [
                {
                    "app_id": 7,
                    "app_markup_usd": "1.10",
                    "app_markup_value": "1.10",
                    "dev_currcode": "USD",
                    "transactions_count": "3",
                }
            ]
        }
    }
    stats = adapter.parse_markup_statistics(body, date_from="a", date_to="b")
    assert (stats.markup_usd, stats.transactions, stats.breakdown[0].app_id) == (Decimal("1.10"), 3, "7")


def test_contract_updates_carry_deriv_s_markup_and_commission(sold):
    contract_id = max(sold.contracts)
    update = adapter.parse_open_contract(sold.contract(contract_id))
    assert update.app_markup_amount == Decimal("0.78")
    assert update.commission is None
    assert adapter.parse_open_contract(
        {"proposal_open_contract": {"contract_id": 1, "commission": 0.12}}
    ).commission == (Decimal("0.12"))


# ---------------------------------------------------------------- the service and the staff page


@pytest.fixture
def app_owner(deriv_on, settings):
    markup.app_budget()  # created before settings change: the count is per process
    settings.DERIV = {**settings.DERIV, "APP_TOKEN": app_token(deriv_on)}
    return deriv_on


def test_the_section_shows_deriv_s_figures(sold, app_owner, caplog):
    day = fake_day(sold)
    with caplog.at_level(logging.DEBUG):
        section = markup.markup_section(date_from=day, date_to=day)

    assert section.context["stats"].markup_usd == Decimal("1.17")
    assert sold.issued_secrets() and not any(s in caplog.text for s in sold.issued_secrets())


def test_the_section_says_why_when_deriv_is_off_or_has_no_token(db, settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": False}
    day = datetime.date(2026, 1, 1)
    assert "Deriv is off" in markup.markup_section(date_from=day, date_to=day).context["problem"]
    settings.DERIV = {**settings.DERIV, "ENABLED": True, "APP_TOKEN": ""}
    assert "DERIV_APP_TOKEN" in markup.markup_section(date_from=day, date_to=day).context["problem"]


def test_the_section_says_so_when_deriv_fails(app_owner, caplog):
    app_owner.fail_next("markup_statistics", "InternalError", "boom")
    day = fake_day(app_owner)

    section = markup.markup_section(date_from=day, date_to=day)

    assert section.context == {"problem": "Deriv's figures are not available right now (InternalError)."}
    assert "stats" not in section.context


def test_the_staff_page_shows_the_deriv_section(sold, app_owner, admin_client):
    day = fake_day(sold).isoformat()
    page = admin_client.get(reverse("revenue_staff:revenue"), {"date_from": day, "date_to": day}).content.decode()

    assert "<h2>Deriv app markup</h2>" in page
    assert 'data-testid="deriv-markup-total">1.17<' in page


def test_the_staff_page_says_when_deriv_is_off(admin_client, settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": False}
    page = admin_client.get(reverse("revenue_staff:revenue")).content.decode()
    assert 'data-testid="deriv-markup-problem">Deriv is off here' in page
