"""The partner's referrals page: link, code and markup forms, statistics from the ledger, the daily notice."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from apps.accounts.services import account_open_demo
from apps.audit.models import AuditEvent
from apps.notifications.models import Kind, Notification
from apps.revenue import selectors
from apps.revenue.models import Partner
from apps.revenue.services import partner_code_set, partner_for, referral_attribute
from apps.revenue.tasks import partner_earnings_notify
from apps.trading.services import contracts_settle
from apps.users.models import User
from tests.trading.support import buy, make_market, write_ticks

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db):
    user = User.objects.create_user("alice@example.com", PASSWORD)
    partner_for(user)
    return partner_code_set(user=user, code="alice_fx")


@pytest.fixture
def market(db):
    return make_market("OTC_REFERRALS")


def referred(partner, email: str):
    user = User.objects.create_user(email, PASSWORD)
    referral_attribute(user=user, code=partner.code, touched_at=timezone.now())
    return user


def win(user, market, stake="10.00"):
    """A contract the trader buys and wins (80% payout: profit 8.00 per 10.00)."""
    account = user.trading_accounts.first() or account_open_demo(user=user)
    contract = buy(account, market, stake=stake, duration=1)
    write_ticks(market, "100.00", "101.00")
    contracts_settle()
    contract.refresh_from_db()
    return contract


def lose(user, market):
    account = user.trading_accounts.first() or account_open_demo(user=user)
    contract = buy(account, market, duration=1)
    write_ticks(market, "100.00", "99.00")
    contracts_settle()
    return contract


def page(client, partner, query=""):
    client.force_login(partner.user)
    response = client.get(reverse("revenue:referrals") + query)
    assert response.status_code == 200
    return response


# ---------------------------------------------------------------- the page


def test_the_page_needs_a_signed_in_user(client):
    response = client.get(reverse("revenue:referrals"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_the_page_shows_the_code_and_the_full_link_with_a_copy_button(client, alice):
    html = page(client, alice).content.decode()
    assert 'data-testid="referral-code">alice_fx<' in html
    assert 'value="http://testserver/r/alice_fx/"' in html
    assert 'id="id_markup" value="10"' in html
    assert 'data-copy-target="referral-link"' in html
    assert "js/referrals.js" in html
    # No inline script: only script files and JSON data.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert re.search(r'<a href="/referrals/"\s+aria-current="page">Referrals</a>', html)


def test_a_user_without_a_code_gets_one_with_a_button_not_by_opening_the_page(client, user):
    client.force_login(user)
    html = client.get(reverse("revenue:referrals")).content.decode()
    assert "Get my referral link" in html and not Partner.objects.filter(user=user).exists()
    response = client.post(reverse("revenue:partner_start"), follow=True)
    partner = Partner.objects.get(user=user)
    assert f"/r/{partner.code}/" in response.content.decode() and partner.markup_rate == Decimal("10.00")
    client.post(reverse("revenue:partner_start"))
    assert Partner.objects.get(user=user) == partner


def test_an_empty_page_says_what_comes(client, alice):
    response = page(client, alice)
    html = response.content.decode()
    assert response.context["stats"] == selectors.ReferralStats(0, 0, 0)
    assert 'data-testid="stat-conversion">—<' in html
    assert 'data-testid="earnings-chart-empty"' in html and 'data-testid="no-traders"' in html
    assert 'data-testid="earned-total">0.00<' in html


def test_statistics_and_earnings_come_from_referrals_and_the_ledger(client, alice, market):
    winner = referred(alice, "winner@example.com")
    loser = referred(alice, "loser.trader@example.org")
    referred(alice, "idle@example.com")
    other = User.objects.create_user("elsewhere@example.com", PASSWORD)  # nobody's referral
    first, second = win(winner, market), win(winner, market)
    lose(loser, market)
    win(other, market)
    assert (first.markup, second.markup) == (Decimal("0.80"), Decimal("0.80"))

    response = page(client, alice)
    html = response.content.decode()

    assert response.context["stats"] == selectors.ReferralStats(signups=3, active=2, converted=2)
    assert 'data-testid="stat-conversion">66.7%<' in html
    (book,) = response.context["earnings"]
    assert 'data-testid="earned-total">1.60<' in html  # money to the cent, whatever the database's sums
    assert (book.label, book.today, book.week, book.month, book.total) == (
        "USD (demo)",
        Decimal("1.60"),
        Decimal("1.60"),
        Decimal("1.60"),
        Decimal("1.60"),
    )
    chart = json.loads(re.search(r'id="earnings-chart-data" type="application/json">(.*?)</script>', html).group(1))
    assert [series["label"] for series in chart] == ["USD (demo)"]
    points = chart[0]["points"]
    assert len(points) == 30 and points[-1] == {"time": timezone.localdate().isoformat(), "value": 1.6}
    assert sum(p["value"] for p in points) == 1.6

    # Referred traders: masked, newest first, whether they traded.
    traders = list(response.context["traders"].object_list)
    assert [(t["trader"], t["traded"]) for t in traders] == [
        ("id***@ex***.com", False),
        ("lo***@ex***.org", True),
        ("wi***@ex***.com", True),
    ]
    # Markup per contract, newest first.
    rows = list(response.context["markups"].object_list)
    assert [(r["contract"], r["trader"], r["amount"], r["book"]) for r in rows] == [
        (str(second.pk), "wi***@ex***.com", Decimal("0.80"), "USD (demo)"),
        (str(first.pk), "wi***@ex***.com", Decimal("0.80"), "USD (demo)"),
    ]
    for email in ("winner@example.com", "loser.trader@example.org", "idle@example.com", "elsewhere@example.com"):
        assert email not in html


def test_earnings_windows_follow_the_clock(alice, market):
    win(referred(alice, "winner@example.com"), market)
    later = timezone.now() + timedelta(days=8)
    (book,) = selectors.partner_earnings(alice, now=later)
    assert (book.today, book.week, book.month, book.total) == (0, 0, Decimal("0.80"), Decimal("0.80"))
    (book,) = selectors.partner_earnings(alice, now=timezone.now() + timedelta(days=31))
    assert (book.month, book.total) == (0, Decimal("0.80"))
    stats = selectors.partner_referral_stats(alice, now=timezone.now() + timedelta(days=31))
    assert (stats.active, stats.converted) == (0, 1)


def test_another_partners_traders_and_earnings_are_not_shown(client, alice, market):
    bob = partner_for(User.objects.create_user("bob@example.com", PASSWORD))
    win(referred(bob, "bobs.trader@example.com"), market)
    response = page(client, alice)
    assert response.context["stats"].signups == 0
    assert response.context["earnings"][0].total == 0
    assert list(response.context["markups"].object_list) == []


def test_both_lists_are_paged_and_the_queries_do_not_grow_with_them(client, alice, market):
    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("revenue:referrals")).status_code == 200
        return len(captured)

    client.force_login(alice.user)
    trader = referred(alice, "t0@example.com")
    win(trader, market)
    queries()  # the session's first request records it (signed-in sessions); count from the next one
    few = queries()
    for n in range(1, 25):
        referred(alice, f"t{n}@example.com")
    for _ in range(22):
        win(trader, market)
    assert queries() == few

    response = page(client, alice)
    assert response.context["traders"].paginator.num_pages == 2
    assert response.context["markups"].paginator.num_pages == 2
    html = response.content.decode()
    assert "?traders=2" in html and "?page=2" in html
    second = page(client, alice, "?traders=2&page=2")
    assert len(second.context["traders"].object_list) == 5
    assert len(second.context["markups"].object_list) == 3


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("john.doe@example.com", "jo***@ex***.com"),
        ("a@b.co.uk", "a***@b.***.uk"),
        ("someone@localhost", "so***@lo***"),
    ],
)
def test_emails_are_masked(email, masked):
    assert selectors.mask_email(email) == masked


# ---------------------------------------------------------------- the forms


def test_setting_the_markup_says_it_applies_from_now_on(client, alice):
    client.force_login(alice.user)
    response = client.post(reverse("revenue:markup_change"), {"markup": "12.5"}, follow=True)
    alice.refresh_from_db()
    assert alice.markup_rate == Decimal("12.50")
    html = response.content.decode()
    assert "Your markup is now 12.5% for contracts bought from now on; open contracts keep their rate." in html
    assert AuditEvent.objects.get(action="partner.markup").data == {"old": "10.00", "new": "12.5"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Enter the markup as a number, for example 10 or 12.5."),
        ("4.99", "The markup is between 5% and 50% of your traders&#x27; profits."),
        ("50.5", "The markup is between 5% and 50% of your traders&#x27; profits."),
        ("12.345", "Enter the markup as a number with at most two decimals."),
        ("", "This field is required."),
    ],
)
def test_a_bad_markup_is_refused_next_to_the_field_and_nothing_changes(client, alice, value, message):
    client.force_login(alice.user)
    response = client.post(reverse("revenue:markup_change"), {"markup": value})
    assert response.status_code == 422
    html = response.content.decode()
    assert f'<p class="error" id="id_markup_error" data-testid="markup-error">{message}</p>' in html
    assert 'id="id_markup" value="' + value + '"' in html
    alice.refresh_from_db()
    assert alice.markup_rate == Decimal("10.00")
    assert not AuditEvent.objects.filter(action="partner.markup").exists()


def test_changing_the_code_changes_the_link(client, alice):
    client.force_login(alice.user)
    response = client.post(reverse("revenue:code_change"), {"code": " Alice_Trades "}, follow=True)
    alice.refresh_from_db()
    assert alice.code == "alice_trades"
    assert "http://testserver/r/alice_trades/" in response.content.decode()
    assert AuditEvent.objects.filter(action="partner.code").latest("id").data == {
        "old": "alice_fx",
        "new": "alice_trades",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("BOBS_CODE", "This code is taken. Choose another one."),
        ("bobs_code", "This code is taken. Choose another one."),
        ("no", "3 to 30 characters: letters, digits, _ and -, starting with a letter or digit."),
        ("has space", "3 to 30 characters: letters, digits, _ and -, starting with a letter or digit."),
        ("", "This field is required."),
    ],
)
def test_a_bad_or_taken_code_is_refused_next_to_the_field(client, alice, value, message):
    partner_code_set(user=partner_for(User.objects.create_user("bob@example.com", PASSWORD)).user, code="bobs_code")
    client.force_login(alice.user)
    response = client.post(reverse("revenue:code_change"), {"code": value})
    assert response.status_code == 422
    assert f'data-testid="code-error">{message}</p>' in response.content.decode()
    alice.refresh_from_db()
    assert alice.code == "alice_fx"


def test_the_forms_only_take_posts(client, alice):
    client.force_login(alice.user)
    assert client.get(reverse("revenue:markup_change")).status_code == 405
    assert client.get(reverse("revenue:code_change")).status_code == 405


# ---------------------------------------------------------------- the daily notice


def test_partners_get_one_earnings_notice_a_day(alice, market):
    winner = referred(alice, "winner@example.com")
    win(winner, market)
    win(winner, market)
    tomorrow = timezone.now() + timedelta(days=1)

    assert partner_earnings_notify(now=tomorrow) == 1
    assert partner_earnings_notify(now=tomorrow) == 0  # run again: nobody is told twice

    (notice,) = Notification.objects.filter(user=alice.user)
    assert notice.kind == Kind.PARTNER_EARNINGS
    assert notice.body == "You earned 1.60 USD (demo) in markup from 2 contracts yesterday."
    assert notice.link == reverse("revenue:referrals")


def test_no_notice_without_earnings_yesterday(alice, market):
    win(referred(alice, "winner@example.com"), market)
    assert partner_earnings_notify() == 0  # today's earnings wait for tomorrow's notice
    assert partner_earnings_notify(now=timezone.now() + timedelta(days=2)) == 0
    assert not Notification.objects.filter(kind=Kind.PARTNER_EARNINGS).exists()


def test_each_partner_gets_their_own_notice(alice, market):
    bob = partner_for(User.objects.create_user("bob@example.com", PASSWORD))
    win(referred(alice, "a1@example.com"), market)
    win(referred(bob, "b1@example.com"), market, stake="20.00")
    assert partner_earnings_notify(now=timezone.now() + timedelta(days=1)) == 2
    bodies = dict(Notification.objects.filter(kind=Kind.PARTNER_EARNINGS).values_list("user__email", "body"))
    assert bodies == {
        "alice@example.com": "You earned 0.80 USD (demo) in markup from 1 contract yesterday.",
        "bob@example.com": "You earned 1.60 USD (demo) in markup from 1 contract yesterday.",
    }


def test_the_notice_runs_daily_on_the_worker():
    schedule = Schedule.objects.get(name="revenue-partner-earnings-notify")
    assert schedule.func == "apps.revenue.tasks.partner_earnings_notify"
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
