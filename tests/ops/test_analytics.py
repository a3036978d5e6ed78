"""The staff analytics page: who may open it, each figure on hand-built data, the range's checks, and that the
figures are summed by the database (the number of queries does not grow with the rows)."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from apps.accounts.services import account_open_demo
from apps.bots.models import Bot, BotStatus
from apps.bots.services import bot_create, bot_start
from apps.ops import analytics as figures
from apps.revenue.reports import revenue_by_day, totals_of
from apps.trading.models import Contract
from apps.trading.services import contracts_settle
from apps.users.models import User
from tests.bots.conftest import TREND
from tests.ops.conftest import feed_beat, worker_beat
from tests.support.mfa import sign_in
from tests.trading.support import buy, make_market, write_ticks

URL = "/staff/analytics/"


def test_the_page_lives_under_staff():
    assert reverse("ops_staff:analytics") == URL


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_traders_get_the_same_answer_as_on_the_other_staff_pages(client, user, django_user_model):
    client.force_login(user)
    assert client.get(URL).status_code == client.get("/staff/revenue/").status_code == 403
    staff = django_user_model.objects.create_user("staff@example.com", "pw-staff-123", is_staff=True)
    sign_in(client, staff, mfa=False)
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_activate_totp"))


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def market(db):
    return make_market("TEST_MKT")


@pytest.fixture
def trades(demo_account, market, other_user):
    """Two settled contracts (a Rise that won 10.00, a Fall that lost 4.00) and two open ones (Rise 7, Fall 3)
    bought today; one more settled loss of 2.00 bought two days ago, by another trader."""
    won = buy(demo_account, market, "RISE", "10.00")
    lost = buy(demo_account, market, "FALL", "4.00")
    earlier = buy(account_open_demo(user=other_user), market, "FALL", "2.00")
    write_ticks(market, "100.00", "101.00")
    assert sorted(contracts_settle(market_ids=[market.pk])) == sorted([won.pk, lost.pk, earlier.pk])
    Contract.objects.filter(pk=earlier.pk).update(purchased_at=timezone.now() - timedelta(days=2))
    buy(demo_account, market, "RISE", "7.00", duration=60, unit="m")
    buy(demo_account, market, "FALL", "3.00", duration=60, unit="m")
    return demo_account


def test_users_total_new_per_day_and_active_today(user, other_user, trades, today):
    User.objects.filter(pk=other_user.pk).update(date_joined=timezone.now() - timedelta(days=3))
    old = User.objects.create_user("old@example.com", "pw")
    User.objects.filter(pk=old.pk).update(date_joined=timezone.now() - timedelta(days=90))
    signed_in = User.objects.create_user("back@example.com", "pw")
    User.objects.filter(pk=signed_in.pk).update(
        last_login=timezone.now(), date_joined=timezone.now() - timedelta(days=40)
    )

    found = figures.user_figures(today - timedelta(days=29), today)

    # Total 4; joined within 30 days: the trader today, the other 3 days ago; active today: the trader traded,
    # `back` signed in (the other trader's contract was bought two days ago, and they did not sign in).
    assert found == figures.UserFigures(total=4, signed_in_today=1, traded_today=1, active_today=2, new_in_range=2)
    assert figures.new_users_by_day(today - timedelta(days=29), today) == [
        (today - timedelta(days=3), 1),
        (today, 1),
    ]


def test_contracts_and_stakes_per_day_and_realm(trades, today):
    rows = figures.volume_by_day(today - timedelta(days=29), today)
    assert rows == [
        figures.VolumeRow(today - timedelta(days=2), "DEMO", "USD", 1, Decimal("2.00")),
        figures.VolumeRow(today, "DEMO", "USD", 4, Decimal("24.00")),
    ]
    assert figures.volume_by_day(today - timedelta(days=1), today)[0].contracts == 4


def test_house_result_per_realm_is_the_revenue_reports(trades, today):
    found = figures.analytics(today - timedelta(days=29), today)
    (realm,) = found.realms
    (house,) = totals_of(revenue_by_day(today - timedelta(days=29), today))
    # The house took the two lost stakes (4 + 2) and paid the winner's profit (80 % of 10).
    assert (realm.realm, realm.currency, realm.contracts, realm.volume) == ("DEMO", "USD", 5, Decimal("26.00"))
    assert realm.house_pnl == house.house_pnl == Decimal("-2.00")


def test_per_market_trades_win_rate_and_open_exposure(trades, today):
    (row,) = figures.market_figures(today - timedelta(days=29), today)
    assert (row.symbol, row.realm, row.currency) == ("TEST_MKT", "DEMO", "USD")
    assert (row.trades, row.won, row.lost, row.win_rate) == (5, 1, 2, Decimal("33.3"))
    assert (row.open_rise, row.open_fall, row.net_open) == (Decimal("7.00"), Decimal("3.00"), Decimal("4.00"))

    # Over yesterday and today only: the two-day-old loss drops out; open stakes are open now, whenever bought.
    (row,) = figures.market_figures(today - timedelta(days=1), today)
    assert (row.trades, row.won, row.lost, row.win_rate) == (4, 1, 1, Decimal("50.0"))
    assert row.net_open == Decimal("4.00")


def test_a_market_with_only_undecided_trades_has_no_win_rate():
    row = figures.MarketRow("X", "DEMO", "USD", 2, 0, 0, Decimal("1.00"), Decimal("5.00"))
    assert row.win_rate is None and row.net_open == Decimal("-4.00")


def test_bots_running_and_stopped_by_reason(user, demo_account, market, today):
    settings = {
        "name": "Bot",
        "account": demo_account,
        "market": market,
        "blocked_regimes": [],
        "duration": 5,
        "duration_unit": "t",
        "base_stake": Decimal("1.00"),
        "max_stake": Decimal("10.00"),
    }
    bots = [bot_create(user=user, decision=TREND, settings=settings | {"name": f"Bot {i}"}) for i in range(5)]
    bot_start(user=user, bot_id=bots[0].pk)
    now = timezone.now()
    Bot.objects.filter(pk__in=[bots[1].pk, bots[2].pk]).update(
        status=BotStatus.STOPPED, stopped_reason="DAILY_LOSS_LIMIT", stopped_at=now
    )
    Bot.objects.filter(pk=bots[2].pk).update(stopped_at=now - timedelta(days=60))
    Bot.objects.filter(pk=bots[3].pk).update(stopped_reason="BY_USER", stopped_at=now)

    found = figures.bot_figures(today - timedelta(days=29), today)

    assert found.running == 1 and found.stopped == 4
    assert [(s.reason, s.bots, s.in_range) for s in found.stopped_by_reason] == [
        ("DAILY_LOSS_LIMIT", 2, 1),
        ("", 1, 0),
        ("BY_USER", 1, 1),
    ]
    assert found.stopped_by_reason[0].label == "The daily loss limit was reached"
    assert found.stopped_by_reason[1].label == "not started yet"


def test_health_reads_the_heartbeats_and_the_queue(db):
    feed_beat(ago=0)
    worker_beat("nexus", ago=10_000)
    worker_beat("backtests", ago=0)
    async_task("apps.ops.selectors.task_queue_depth", sync=False)

    found = figures.health()

    states = {check.name: check.problem for check in found.checks}
    assert states == {
        "Feed OTC": "",
        "Worker nexus": "last heartbeat 10000 s ago (limit 180 s)",
        "Worker backtests": "",
    }
    assert found.queue_depth == 1 and found.queue_ok and found.failed_tasks == 0


def test_a_broker_that_is_down_is_shown_not_raised(db, monkeypatch):
    def down():
        raise ConnectionError("redis down")

    monkeypatch.setattr("apps.ops.selectors.task_queue_depth", down)
    found = figures.health()
    assert found.queue_depth is None and not found.queue_ok


def test_the_number_of_queries_does_not_grow_with_the_rows(trades, market, today):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            figures.analytics(today - timedelta(days=29), today)
        return len(captured)

    before = queries()
    for _ in range(5):
        buy(trades, market, "RISE", "1.00", duration=60, unit="m")
    User.objects.create_user("more@example.com", "pw")
    assert queries() == before


@pytest.fixture
def staff_client(admin_client):
    return admin_client


def test_staff_see_every_section(staff_client, trades):
    response = staff_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    for section in ("users", "realms", "days", "markets", "bots", "health", "analytics-chart"):
        assert f'data-testid="{section}"' in page, section
    assert 'id="analytics-data"' in page and "js/analytics-staff.js" in page
    assert "<script>" not in page  # no inline script: the figures are JSON, read by the static file
    assert response.context["figures"].users.total == 3
    assert '<td class="num">4.00</td>' in page  # the market's net open stake
    series = response.context["series"]
    contracts = series["realms"]["DEMO USD"]["contracts"]
    assert len(contracts) == len(series["users"]) == 30  # every day of the range, quiet ones at 0
    assert [point["value"] for point in contracts[-3:]] == [1, 0, 4]
    assert contracts[-1]["time"] == timezone.localdate().isoformat()


def test_staff_menu_links_the_page(staff_client):
    assert f'href="{URL}"' in staff_client.get("/staff/revenue/").content.decode()


def test_an_empty_range_says_so(staff_client):
    page = staff_client.get(URL, {"date_from": "2020-01-01", "date_to": "2020-01-31"}).content.decode()
    assert "No contract was bought in these days." in page
    assert 'data-testid="analytics-chart"' not in page and 'id="analytics-data"' not in page


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "date_to", "The end cannot be before the start."),
        ({"date_from": "2024-01-01", "date_to": "2026-01-01"}, "date_from", "Choose at most 366 days."),
        ({"date_from": "yesterday"}, "date_from", "Enter a valid date."),
    ],
)
def test_a_bad_range_is_refused_next_to_the_field(staff_client, query, field, message):
    response = staff_client.get(URL, query)
    assert response.status_code == 200 and response.context["figures"] is None
    assert f'data-testid="error-{field}">{message}<' in response.content.decode()


def test_days_are_the_current_time_zones(user, today):
    # Joined at 20:00 UTC: the next day in Tokyo (UTC+9).
    joined = datetime.combine(today, time(20), tzinfo=UTC)
    User.objects.filter(pk=user.pk).update(date_joined=joined)
    assert figures.new_users_by_day(today - timedelta(days=1), today + timedelta(days=1)) == [(today, 1)]
    with timezone.override("Asia/Tokyo"):
        assert figures.new_users_by_day(today - timedelta(days=1), today + timedelta(days=1)) == [
            (today + timedelta(days=1), 1)
        ]
        assert figures.new_users_by_day(today - timedelta(days=1), today) == []
