"""Settings > Profile and Trading: the time zone every date follows, and the trade form's defaults."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.users.selectors import user_day_start, user_timezone


@pytest.fixture
def trader(client, user):
    client.force_login(user)
    return client


def test_every_settings_section_opens(trader):
    for name in ("profile", "security", "trading", "responsible"):
        response = trader.get(reverse(f"settings:{name}"))
        assert response.status_code == 200, name
        assert b'class="settings-nav"' in response.content
    assert trader.get(reverse("settings:index")).url == reverse("settings:profile")


def test_settings_need_a_signed_in_trader(client, db):
    assert client.get(reverse("settings:profile")).status_code == 302


def test_a_known_time_zone_is_saved_and_audited(trader, user):
    response = trader.post(reverse("settings:profile"), {"display_name": "Ada", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.display_name, user.time_zone) == ("Ada", "Asia/Tokyo")
    event = AuditEvent.objects.get(action="user.profile_update")
    assert event.data["time_zone"] == ["", "Asia/Tokyo"]


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "utc; drop table"])
def test_an_unknown_time_zone_is_refused_next_to_the_field(trader, user, zone):
    response = trader.post(reverse("settings:profile"), {"display_name": "Ada", "time_zone": zone})
    assert response.status_code == 200
    assert 'id="error-time_zone"' in response.content.decode()
    user.refresh_from_db()
    assert (user.display_name, user.time_zone) == ("", "")
    assert not AuditEvent.objects.filter(action="user.profile_update").exists()


def test_a_too_long_display_name_is_refused(trader, user):
    response = trader.post(reverse("settings:profile"), {"display_name": "x" * 61, "time_zone": "UTC"})
    assert response.status_code == 200
    assert b'id="error-display_name"' in response.content


def test_dates_on_pages_follow_the_traders_time_zone(trader, user):
    user.time_zone = "Asia/Kolkata"
    user.save()
    response = trader.get(reverse("settings:profile"))
    assert response.context["request"].timezone == user_timezone(user)
    local = timezone.localtime(timezone.now(), user_timezone(user))
    assert f"Now in your time zone: {local:%-d %b %Y %H:}" in response.content.decode()
    assert "IST" in response.content.decode()


def test_the_time_zone_is_active_only_for_its_request(trader, user):
    user.time_zone = "America/New_York"
    user.save()
    trader.get(reverse("settings:profile"))
    assert timezone.get_current_timezone_name() == "UTC"


def test_the_date_filter_and_abbreviation_follow_the_active_zone(user):
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with timezone.override(user_timezone(type("U", (), {"time_zone": "Europe/Paris"})())):
        assert Template('{{ t|date:"H:i T" }}').render(Context({"t": moment})) == "14:00 CEST"


def test_an_unknown_stored_zone_reads_as_utc(user):
    user.time_zone = "Nowhere/City"
    assert str(user_timezone(user)) == "UTC"


def test_the_traders_day_starts_at_their_local_midnight(user):
    user.time_zone = "Pacific/Auckland"
    now = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # 09:00 on 2 March in Auckland
    start = user_day_start(user, now)
    assert (start.day, start.hour, start.utcoffset().total_seconds() / 3600) == (2, 0, 13)


# --- Trading preferences -----------------------------------------------------------------


def test_trading_preferences_prefill_the_trade_form(trader, user, demo_account, markets):
    response = trader.post(
        reverse("settings:trading"),
        {
            "default_market": "VOL_25",
            "default_stake": "7.50",
            "default_duration": "5",
            "default_duration_unit": "m",
            "confirm_purchases": "on",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.default_stake, user.default_duration, user.confirm_purchases) == (Decimal("7.50"), 5, True)
    page = trader.get(reverse("trading:trade"))
    assert page.context["market"].symbol == "VOL_25"
    form = page.context["form"]
    assert (form["stake"].value(), form["duration"].value(), form["duration_unit"].value()) == (
        Decimal("7.50"),
        5,
        "m",
    )
    assert b'data-confirm-dialog="buy-dialog"' in page.content


@pytest.mark.parametrize(
    "data, field",
    [
        ({"default_stake": "-1"}, "default_stake"),
        ({"default_stake": "1.234"}, "default_stake"),
        ({"default_stake": "NaN"}, "default_stake"),
        ({"default_duration": "7", "default_duration_unit": "m"}, "default_duration"),
        ({"default_duration": "3"}, "default_duration_unit"),
        ({"default_duration_unit": "x"}, "default_duration_unit"),
        ({"default_market": "NOPE"}, "default_market"),
    ],
)
def test_bad_trading_preferences_are_refused_next_to_the_field(trader, user, markets, data, field):
    response = trader.post(reverse("settings:trading"), data)
    assert response.status_code == 200
    assert f'id="error-{field}"' in response.content.decode()
    user.refresh_from_db()
    assert user.default_stake is None and user.default_duration is None


# --- Security: signed-in sessions ----------------------------------------------------------------


def test_sign_out_everywhere_else_ends_the_other_sessions_and_closes_their_sockets(client, user, monkeypatch):
    from allauth.account.models import EmailAddress
    from django.test import Client

    from apps.realtime import receivers
    from apps.realtime.limits import session_digest

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    closed = []
    monkeypatch.setattr(receivers, "_close_sockets", lambda user_id, message: closed.append((user_id, message)))
    other = Client()
    for browser in (client, other):
        browser.post(reverse("account_login"), {"login": user.email, "password": "correct horse battery staple"})
    other_key = other.session.session_key
    page = client.get(reverse("settings:security"))
    assert len(page.context["sessions"]) == 2 and len(page.context["other_sessions"]) == 1
    assert client.post(reverse("usersessions_list")).status_code == 302
    assert other.get(reverse("settings:profile")).status_code == 302  # signed out there
    assert client.get(reverse("settings:profile")).status_code == 200  # still signed in here
    assert [(uid, m["ended"]) for uid, m in closed] == [(user.pk, session_digest(other_key))]
