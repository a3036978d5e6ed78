"""The signed-in home: figures from hand-built contracts, only the trader's own, in a fixed number of queries."""

import json
import re
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.dashboard import selectors
from apps.trading.models import Status

from .builders import backdate, settled


@pytest.fixture
def trader(client, demo_account):
    client.force_login(demo_account.user)
    return client


@pytest.fixture
def market(feed):
    return feed.markets_by_symbol["OTC_EUR_USD"]


@pytest.fixture
def other_account(other_user):
    from apps.accounts.services import account_open_demo

    return account_open_demo(user=other_user)


def _now():
    return timezone.now().replace(microsecond=0)


def _local_noon(days_ago: int):
    day = timezone.localdate() - timedelta(days=days_ago)
    return selectors.local_day_start(day) + timedelta(hours=12)


def test_cards_count_today_the_last_30_days_the_win_rate_open_contracts_and_running_bots(demo_account, market):
    now = _now()
    won = settled(demo_account, market, status=Status.WON, stake="10.00", at=now, fees="1.00")
    settled(demo_account, market, status=Status.LOST, stake="5.00", at=_local_noon(3))
    settled(demo_account, market, status=Status.TIE, stake="2.00", at=_local_noon(4))
    settled(demo_account, market, status=Status.WON, stake="50.00", at=_local_noon(40))  # outside the 30 days
    settled(demo_account, market, status=Status.OPEN, stake="7.00", at=now)

    demo_account.ledger_account.refresh_from_db()
    cards = selectors.cards(account=demo_account)

    win = won.amount_paid - won.stake  # net of the commission: 10 * 0.8 (payout) - 1 (fee)
    assert win == Decimal("7.00") if market.payout_percent == 80 else win > 0
    assert cards.today_net == win
    assert cards.month_net == win - Decimal("5.00")
    assert (cards.wins, cards.losses, cards.month_trades) == (1, 1, 3)
    assert cards.win_rate == Decimal("50.0")
    assert cards.open == 1
    assert cards.bots_running == 0
    assert cards.balance == Decimal("10000.00") + win - 5 - 7 + 40


def test_the_page_shows_the_traders_own_figures_never_another_traders(trader, demo_account, other_account, market):
    now = _now()
    mine = settled(demo_account, market, status=Status.WON, stake="10.00", at=now)
    theirs = settled(other_account, market, status=Status.LOST, stake="99.00", at=now)
    settled(other_account, market, status=Status.OPEN, stake="33.00", at=now)

    body = trader.get(reverse("dashboard:home")).content.decode()

    assert f'data-contract="{mine.pk}"' in body
    assert f'data-contract="{theirs.pk}"' not in body
    open_count = re.search(r'data-testid="dash-open"><a [^>]*>(\d+)</a>', body).group(1)
    assert open_count == "0"
    today = re.search(r'data-testid="dash-today">([^<]+)<', body).group(1)
    assert Decimal(today) == mine.amount_paid - mine.stake
    assert "99.00" not in body


def test_daily_bars_and_the_equity_curve_follow_the_ledger_day_by_day(demo_account, market):
    from apps.ledger.models import Transfer

    opening = demo_account.balance
    from apps.accounts.models import TradingAccount

    # Opened and funded 5 days ago.
    TradingAccount.objects.filter(pk=demo_account.pk).update(created_at=_local_noon(5))
    demo_account.refresh_from_db()
    backdate(Transfer.objects.filter(credit=demo_account.ledger_account), _local_noon(5))
    settled(demo_account, market, status=Status.LOST, stake="20.00", at=_local_noon(2))
    settled(demo_account, market, status=Status.LOST, stake="5.00", at=_local_noon(2) + timedelta(hours=1))
    won = settled(demo_account, market, status=Status.WON, stake="10.00", at=_local_noon(0))
    demo_account.ledger_account.refresh_from_db()

    data = selectors.chart_data(account=demo_account, key="7d")

    assert len(data["daily"]) == len(data["equity"]) == 7
    assert [Decimal(d["value"]) for d in data["daily"][-3:]] == [Decimal("-25.00"), 0, won.amount_paid - won.stake]
    assert [d["trades"] for d in data["daily"][-3:]] == [2, 0, 1]
    assert "value" not in data["equity"][0]  # the day before the account opened is blank
    equity = [Decimal(p["value"]) for p in data["equity"][1:]]
    assert equity[-1] == demo_account.balance == opening - 25 + (won.amount_paid - won.stake)
    assert equity[-2] == equity[-3] == opening - 25
    assert equity[-4] == equity[0] == opening
    assert data["daily"][-1]["time"] == timezone.localdate().isoformat()


def test_days_are_the_current_time_zones(demo_account, market):
    # At 06:00 UTC it is 15:00 in Tokyo and 01:00 or 02:00 in New York, on the same date.
    real = timezone.now()
    six = real.replace(hour=6, minute=0, second=0, microsecond=0)
    clock = six if six > real else six + timedelta(days=1)
    with mock.patch("django.utils.timezone.now", return_value=clock), timezone.override("Asia/Tokyo"):
        late = selectors.local_day_start(timezone.localdate()) + timedelta(minutes=30)  # 00:30 in Tokyo
        settled(demo_account, market, status=Status.LOST, stake="3.00", at=late)
        tokyo = selectors.chart_data(account=demo_account, key="7d")["daily"]
        assert Decimal(tokyo[-1]["value"]) == Decimal("-3.00")
        assert selectors.cards(account=demo_account).today_net == Decimal("-3.00")
    with mock.patch("django.utils.timezone.now", return_value=clock), timezone.override("America/New_York"):
        # The same moment is still the day before in New York.
        assert selectors.cards(account=demo_account).today_net == Decimal("0.00")


def test_results_by_market_over_the_range(demo_account, feed):
    eur = feed.markets_by_symbol["OTC_EUR_USD"]
    other = next(m for s, m in feed.markets_by_symbol.items() if s != "OTC_EUR_USD" and m.source == eur.source)
    settled(demo_account, eur, status=Status.WON, at=_local_noon(1))
    settled(demo_account, eur, status=Status.LOST, at=_local_noon(1))
    settled(demo_account, eur, status=Status.LOST, at=_local_noon(20))
    settled(demo_account, other, status=Status.LOST, at=_local_noon(2))

    week = selectors.results_by_market(account=demo_account, key="7d")
    month = selectors.results_by_market(account=demo_account, key="30d")

    assert [(r.symbol, r.trades, r.wins, r.losses) for r in week] == [(eur.symbol, 2, 1, 1), (other.symbol, 1, 0, 1)]
    assert week[0].win_rate == Decimal("50.0")
    assert month[0].trades == 3 and month[0].net == week[0].net - Decimal("10.00")


def test_an_unknown_range_shows_the_default_and_each_range_is_a_link(trader, demo_account, market):
    body = trader.get(reverse("dashboard:home") + "?range=nonsense").content.decode()

    assert '<a href="?range=30d" aria-current="true"' in body
    for key in selectors.RANGES:
        assert f'href="?range={key}"' in body
    data = json.loads(re.search(r'id="dashboard-chart-data" type="application/json">(.*?)</script>', body).group(1))
    assert len(data["daily"]) == 30
    assert "<script>" not in body and " style=" not in body


def test_the_market_overview_has_each_active_markets_price_change_and_sparkline(trader, feed, market):
    from apps.markets.models import Candle, Market, Timeframe

    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    Candle.objects.filter(market=market, timeframe=Timeframe.H1).delete()
    for i, (o, c) in enumerate([(Decimal("1.0000"), Decimal("1.0100")), (Decimal("1.0100"), Decimal("1.0200"))]):
        Candle.objects.create(
            market=market, timeframe=Timeframe.H1, start=start + timedelta(hours=i), open=o, high=c, low=o, close=c
        )
    Market.objects.filter(pk=market.pk).update(last_price=Decimal("1.0500"))

    lines = {line.market.symbol: line for line in selectors.market_overview()}

    assert set(lines) == set(Market.objects.filter(is_active=True).values_list("symbol", flat=True))
    line = lines[market.symbol]
    assert line.change == Decimal("0.0500") and line.change_percent == Decimal("5.00")
    assert len(line.spark.split()) == 4  # 24 h ago, two closes, now
    body = trader.get(reverse("dashboard:home")).content.decode()
    assert f'<tr data-symbol="{market.symbol}">' in body and "+5.00%" in body


def test_the_health_strip_names_a_silent_worker_and_the_feeds(trader, feed):
    items = {item.name: item for item in selectors.health(user=trader, markets=selectors.market_overview())}

    assert items["Worker"].ok is False and "no heartbeat" in items["Worker"].detail
    assert any(name.endswith("prices") for name in items)


def test_the_query_count_does_not_grow_with_the_contracts(trader, demo_account, market):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert trader.get(reverse("dashboard:home") + "?range=all").status_code == 200
        return len(captured)

    for i in range(3):
        settled(demo_account, market, status=Status.WON, at=_local_noon(i))
    queries()  # the session's first request reads what later ones find cached
    few = queries()
    for i in range(40):
        settled(demo_account, market, status=(Status.LOST, Status.WON, Status.TIE)[i % 3], at=_local_noon(i % 35))
    assert queries() == few


def test_a_push_carries_the_cards_and_recent_trades_the_page_has_places_for(trader, demo_account, market):
    from apps.realtime.push import render_user_state

    contract = settled(demo_account, market, status=Status.WON, at=_now())
    body = trader.get(reverse("dashboard:home")).content.decode()

    html = render_user_state(demo_account.user, frozenset({"dashboard"}))["dashboard"]

    ids = re.findall(r'^\s*<[a-z]+[^>]*\sid="([^"]+)"', html, re.M)
    assert ids == ["dash-cards", "dash-recent"]
    assert all(f'id="{i}"' in body for i in ids)
    assert f'data-contract="{contract.pk}"' in html
    assert "live/?parts=balance,bell,toasts,dashboard" in body


def test_a_trader_without_an_account_is_offered_one(client, user, feed):
    client.force_login(user)

    body = client.get(reverse("dashboard:home")).content.decode()

    assert 'data-testid="dash-no-account"' in body
    assert ",dashboard" not in body


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        ("America/New_York", "2026-10-30"),  # clocks go back on 1 November: a 25-hour day
        ("America/New_York", "2026-03-06"),  # and forward on 8 March: a 23-hour day
        ("Australia/Sydney", "2026-04-03"),
        ("Asia/Kathmandu", "2026-06-01"),  # UTC+5:45
        ("UTC", "2026-06-01"),
    ],
)
def test_local_dates_in_sql_match_pythons_across_clock_changes(demo_account, market, zone, first):
    from datetime import date

    from apps.trading.models import Contract

    first = date.fromisoformat(first)
    last = first + timedelta(days=4)
    with timezone.override(zone):
        start = selectors.local_day_start(first)
        for quarter in range(0, 5 * 24 * 4 - 1, 3):  # every 45 minutes over five days
            settled(demo_account, market, status=Status.LOST, stake="1.00", at=start + timedelta(minutes=15 * quarter))
        for boundary in range(6):  # each day's first and last second
            edge = selectors.local_day_start(first + timedelta(days=boundary))
            settled(demo_account, market, status=Status.LOST, stake="1.00", at=edge)
            settled(demo_account, market, status=Status.LOST, stake="1.00", at=edge - timedelta(seconds=1))
        rows = Contract.objects.filter(settled_at__gte=start, settled_at__lt=selectors.local_day_start(last))
        in_sql = dict(rows.annotate(day=selectors.local_date("settled_at", first, last)).values_list("pk", "day"))
        in_python = {c.pk: timezone.localdate(c.settled_at) for c in rows}
    assert in_sql == in_python
