"""Backtests: the form, the service and task (recorded or generated prices), the report pages, comparing."""

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.bots.backtests import ProgressWriter, backtest_run, recorded_ticks
from apps.bots.models import Backtest, BacktestStatus
from apps.bots.tasks import run_backtest

from .conftest import climb, write_ticks
from .test_views import HX, bot_form, field_error

pytestmark = pytest.mark.django_db


def backtest_form(market, **overrides) -> dict:
    data = bot_form(market, None, name="Seeded run") | {
        "source": "GENERATED",
        "seed": "7",
        "length": "600",
        "starting_balance": "1000.00",
        "start": "",
        "end": "",
    }
    data.pop("account")
    data.update(overrides)
    return data


@pytest.fixture
def submit(trader, market, django_capture_on_commit_callbacks):
    """Post the backtest form; the queued task runs at commit (the test settings run tasks inline)."""

    def post(headers=None, **overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return trader.post(reverse("bots:backtest_new"), backtest_form(market, **overrides), headers=headers or {})

    return post


def test_a_generated_backtest_runs_and_shows_its_report(trader, submit):
    response = submit()
    backtest = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("bots:backtest", args=[backtest.pk])
    assert (backtest.status, backtest.progress) == (BacktestStatus.DONE, 100)
    assert backtest.settings["strategies"].keys() == {"scalping", "momentum", "breakout"}
    assert backtest.settings["length"] == 600
    assert backtest.report["ticks"] == 600

    body = trader.get(response["Location"]).content.decode()
    for label in (
        "Trades",
        "Win rate",
        "Break-even win rate",
        "Net P&amp;L",
        "Max drawdown",
        "Profit factor",
        "Expectancy / contract",
        "Longest losing streak",
        "Stopped",
        "Skipped decisions",
    ):
        assert label in body, label
    # 80% payout: break even at 1 / 1.8.
    assert "55.6%" in body
    assert 'id="equity-chart"' in body and 'id="equity-data"' in body
    assert "bots-backtest.js" in body
    assert "every 1s" not in body  # finished: no more polling


def test_the_same_seed_and_settings_give_the_same_report(submit):
    submit()
    submit()
    submit(seed="8")
    first, second, other = Backtest.objects.order_by("id")
    assert first.report == second.report
    assert first.report["equity_curve"] == second.report["equity_curve"]
    assert other.report != first.report


def test_a_recorded_backtest_reads_the_ticks_of_its_period(trader, market, submit):
    ticks = write_ticks(market, climb(400))
    start, end = ticks[50].time, ticks[350].time
    local = "%Y-%m-%dT%H:%M:%S.%f"
    response = submit(
        source="RECORDED",
        start=timezone.localtime(start).strftime(local),
        end=timezone.localtime(end).strftime(local),
        seed="",
        length="",
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    backtest = Backtest.objects.get()
    assert backtest.status == BacktestStatus.DONE, backtest.error
    assert backtest.report["ticks"] == 300
    assert backtest.seed is None


def test_recorded_ticks_are_read_in_chunks_in_order(market):
    ticks = write_ticks(market, climb(57))
    start, end = ticks[0].time, ticks[-1].time + timedelta(seconds=1)
    read = list(recorded_ticks(market.pk, start, end, chunk=10))
    assert read == [(t.time, t.price) for t in ticks]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"source": "RECORDED", "start": "", "end": ""}, "start", "Enter when the period starts."),
        (
            {"source": "RECORDED", "start": "2024-01-02T00:00", "end": "2024-01-01T00:00"},
            "end",
            "The end must be after the start.",
        ),
        (
            {"source": "RECORDED", "start": "2020-01-01T00:00", "end": "2020-01-02T00:00"},
            "start",
            "No prices were recorded for Volatility 10 Index in that period.",
        ),
        ({"seed": ""}, "seed", "Enter a seed."),
        ({"seed": "-1"}, "seed", "The seed cannot be negative."),
        ({"length": "10"}, "length", "Generate at least 200 ticks"),
        ({"length": "9999999"}, "length", "Generate at most 3,000,000 ticks: a longer run does not fit"),
        ({"source": "LIVE"}, "source", "Choose recorded ticks or a generated series."),
        ({"starting_balance": "0.10"}, "starting_balance", "The starting balance must be at least 0.35."),
        ({"base_stake": "0.10"}, "base_stake", "The base stake must be at least 0.35"),
        ({"max_drawdown_pct": "101"}, "max_drawdown_pct", "more than 0% and at most 100%"),
        ({"strategies": []}, "strategies", "Choose at least one strategy."),
        ({"min_confidence": "2"}, "min_confidence", "between 0 and 1"),
        ({"min_agreeing": "5"}, "min_agreeing", "between 1 and the number of strategies (3), not 5"),
        ({"recovery": "MARTINGALE"}, "recovery", "martingale is not offered"),
        ({"duration": "0"}, "duration", "Tick contracts last 1 to 10 ticks."),
    ],
)
def test_bad_backtest_input_is_refused_next_to_its_field_and_queues_nothing(submit, overrides, field, message):
    for headers in ({}, HX):
        response = submit(headers=headers, **overrides)
        assert response.status_code == 422
        assert message in field_error(response.content.decode(), field)
    assert not Backtest.objects.exists()


def test_checking_the_backtest_form_as_the_trader_types_queues_nothing(submit):
    response = submit(headers=HX, validate="1", length="10")
    assert response.status_code == 422
    assert 'hx-swap-oob="true"' in response.content.decode()
    assert submit(headers=HX, validate="1").status_code == 200
    assert not Backtest.objects.exists()


def test_an_htmx_submit_sends_the_browser_to_the_backtest(submit):
    response = submit(headers=HX)
    assert response["HX-Redirect"] == reverse("bots:backtest", args=[Backtest.objects.get().pk])


def test_a_bots_settings_prefill_the_backtest_form(trader, make_bot):
    bot = make_bot(name="Prefill me", base_stake=Decimal("2.50"))
    body = trader.get(reverse("bots:backtest_new") + f"?bot={bot.pk}").content.decode()
    assert 'value="Prefill me backtest"' in body
    assert 'value="2.50"' in body
    assert 'value="dual_rsi" id="strategy-dual_rsi">' in body


def test_a_saved_backtest_prefills_a_new_run(trader, submit):
    submit(base_stake="3.00", seed="42")
    backtest = Backtest.objects.get()
    body = trader.get(reverse("bots:backtest_new") + f"?backtest={backtest.pk}").content.decode()
    assert 'value="3.00"' in body and 'value="42"' in body


def test_a_queued_backtest_shows_a_polled_progress_bar(trader, user, market):
    backtest = Backtest.objects.create(
        user=user,
        market=market,
        name="Waiting",
        start=timezone.now(),
        end=timezone.now(),
        settings={"strategies": {"momentum": {}}, "length": 1000},
        status=BacktestStatus.RUNNING,
        progress=42,
    )
    url = reverse("bots:backtest", args=[backtest.pk])
    body = trader.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in body and 'value="42"' in body
    partial = trader.get(url, headers=HX | {"HX-Target": "backtest-result"}).content.decode()
    assert partial.lstrip().startswith('<section id="backtest-result"')
    assert "<html" not in partial and "42%" in partial


def test_progress_is_written_at_most_once_a_second(user, market):
    backtest = Backtest.objects.create(
        user=user, market=market, name="P", start=timezone.now(), end=timezone.now(), settings={}
    )
    Backtest.objects.filter(pk=backtest.pk).update(status=BacktestStatus.RUNNING)
    slow = ProgressWriter(backtest.pk, every_s=3600)
    slow(50, 100)
    backtest.refresh_from_db()
    assert backtest.progress == 0
    fast = ProgressWriter(backtest.pk, every_s=0)
    fast(50, 100)
    backtest.refresh_from_db()
    assert backtest.progress == 50


def test_a_backtest_that_fails_says_why_and_is_not_run_again(trader, user, market, submit):
    submit()
    done = Backtest.objects.get()
    broken = Backtest.objects.create(
        user=user,
        market=market,
        name="Broken",
        source="GENERATED",
        start=done.start,
        end=done.end,
        seed=1,
        settings=done.settings | {"tie_rule": "SPLIT"},
    )
    assert run_backtest(broken.pk) == "failed"
    broken.refresh_from_db()
    assert broken.status == BacktestStatus.FAILED
    assert "tie rule must be REFUND or LOSE" in broken.error
    body = trader.get(reverse("bots:backtest", args=[broken.pk])).content.decode()
    assert "The backtest failed" in html.unescape(body)
    # A duplicate or retried task leaves finished runs alone.
    assert backtest_run(backtest_id=broken.pk) == "skipped"
    assert backtest_run(backtest_id=done.pk) == "skipped"


def test_two_to_four_finished_backtests_compare_side_by_side(trader, submit):
    submit(name="Seven")
    submit(name="Eight", seed="8")
    first, second = Backtest.objects.order_by("id")
    body = trader.get(reverse("bots:backtests"), {"compare": [first.pk, second.pk]}).content.decode()
    table = body.split('data-testid="compare"')[1].split("</section>")[0]
    assert "Seven" in table and "Eight" in table
    for label in ("Win rate", "Net P&amp;L", "Profit factor", "Break-even win rate", "Longest losing streak"):
        assert label in table

    alone = trader.get(reverse("bots:backtests"), {"compare": [first.pk]})
    assert alone.status_code == 422
    assert "Choose two to four backtests to compare." in alone.content.decode()


def test_another_traders_backtests_are_404_everywhere(trader, other_user, market, submit):
    submit()
    theirs = Backtest.objects.get()
    Backtest.objects.filter(pk=theirs.pk).update(user=other_user)
    submit(name="Mine")
    mine = Backtest.objects.get(name="Mine")
    assert trader.get(reverse("bots:backtest", args=[theirs.pk])).status_code == 404
    assert trader.get(reverse("bots:backtest", args=[theirs.pk]), headers=HX).status_code == 404
    assert trader.get(reverse("bots:backtest_new") + f"?backtest={theirs.pk}").status_code == 404
    assert trader.get(reverse("bots:backtests"), {"compare": [mine.pk, theirs.pk]}).status_code == 404
    listing = trader.get(reverse("bots:backtests")).content.decode()
    assert "Mine" in listing and not re.search(rf'href="/bots/backtests/{theirs.pk}/"', listing)


def test_another_traders_bot_cannot_prefill_a_backtest(trader, other_user, make_bot):
    from apps.accounts.services import account_open_demo

    theirs = make_bot(owner=other_user, account=account_open_demo(user=other_user))
    assert trader.get(reverse("bots:backtest_new") + f"?bot={theirs.pk}").status_code == 404


# Settings that trade often and never stop: many contracts in a short run.
BUSY = {
    "length": "3000",
    "min_agreeing": "1",
    "min_confidence": "0.10",
    "daily_loss_limit": "1000.00",
    "max_consecutive_losses": "1000",
    "max_drawdown_pct": "100",
    "max_trades_per_day": "100000",
}


def test_a_finished_backtest_keeps_its_simulated_contracts_and_pages_them(trader, submit):
    submit(**BUSY)
    backtest = Backtest.objects.get()
    report = backtest.report
    assert report["trades"] > 25, report
    trades = list(backtest.trades.order_by("number"))
    assert report["trades_stored"] == len(trades) == report["trades"]
    assert [t.number for t in trades] == list(range(1, len(trades) + 1))
    won = sum(t.outcome == "WON" for t in trades)
    assert won == report["wins"]
    assert sum(t.profit for t in trades) == Decimal(report["net_pnl"])
    # The daily breakdown adds up to the totals.
    daily = report["daily"].values()
    assert sum(row["trades"] for row in daily) == report["trades"]
    assert sum(Decimal(row["net"]) for row in daily) == Decimal(report["net_pnl"])

    url = reverse("bots:backtest", args=[backtest.pk])
    body = trader.get(url).content.decode()
    assert body.count('data-testid="backtest-trade"') == 25
    assert 'data-testid="backtest-days"' in body
    assert f'href="{url}?page=2"' in body and 'hx-target="#backtest-trades"' in body
    second = trader.get(url, {"page": "2"}, headers=HX | {"HX-Target": "backtest-trades"}).content.decode()
    assert second.lstrip().startswith('<section id="backtest-trades"')
    assert "<html" not in second
    assert f'<td class="num">{trades[25].number}</td>' in second


def test_a_run_delivered_twice_keeps_one_list_of_contracts(submit):
    submit(**BUSY)
    backtest = Backtest.objects.get()
    stored = backtest.trades.count()
    Backtest.objects.filter(pk=backtest.pk).update(status=BacktestStatus.QUEUED)
    backtest_run(backtest_id=backtest.pk)
    assert backtest.trades.count() == stored


def test_the_stored_contracts_are_capped(submit, monkeypatch):
    monkeypatch.setattr("apps.bots.backtests.BACKTEST_TRADES_STORED", 5)
    submit(**BUSY)
    backtest = Backtest.objects.get()
    assert backtest.trades.count() == 5 == backtest.report["trades_stored"] < backtest.report["trades"]


def test_a_report_saved_before_contracts_were_kept_still_renders(trader, submit):
    submit()
    backtest = Backtest.objects.get()
    report = {k: v for k, v in backtest.report.items() if k not in ("daily", "trades_stored")}
    Backtest.objects.filter(pk=backtest.pk).update(report=report)
    backtest.trades.all().delete()
    response = trader.get(reverse("bots:backtest", args=[backtest.pk]))
    assert response.status_code == 200


def test_the_stop_time_reads_as_a_time_not_iso(trader, submit):
    submit(**(BUSY | {"max_consecutive_losses": "1"}))
    backtest = Backtest.objects.get()
    assert backtest.report["stopped_at"]
    body = trader.get(reverse("bots:backtest", args=[backtest.pk])).content.decode()
    stop = body.split('data-testid="report-stop"')[1].split("</dd>")[0]
    shown = re.sub(r"<[^>]+>", "", stop)
    assert backtest.report["stopped_at"] not in shown
    assert "at 2024-01-01 00:00:" in shown and "UTC" in shown


def test_compare_overlays_each_runs_curve_and_marks_the_better_value(trader, submit):
    submit(name="Seven")
    submit(name="Eight", seed="8")
    first, second = Backtest.objects.order_by("id")
    body = trader.get(reverse("bots:backtests"), {"compare": [first.pk, second.pk]}).content.decode()
    assert 'id="compare-chart"' in body and "bots-backtest.js" in body
    curves = re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', body, re.S).group(1)
    import json

    data = json.loads(curves)
    assert [c["name"] for c in data] == ["Seven", "Eight"]
    assert all(c["points"][0]["time"] == 0 for c in data)
    net = {b.name: Decimal(b.report["net_pnl"]) for b in (first, second)}
    table = body.split('data-testid="compare"')[1].split("</table>")[0]
    row = table.split("Net P&amp;L</th>")[1].split("</tr>")[0]
    cells = re.findall(r"<td([^>]*)>", row)
    if net["Seven"] != net["Eight"]:
        better = 0 if net["Seven"] > net["Eight"] else 1
        assert "best" in cells[better] and "best" not in cells[1 - better]
    else:
        assert not any("best" in c for c in cells)


def test_report_times_read_in_the_current_time_zone(trader, submit, settings):
    submit(**(BUSY | {"max_consecutive_losses": "1"}))
    backtest = Backtest.objects.get()
    settings.TIME_ZONE = "Asia/Tokyo"
    body = trader.get(reverse("bots:backtest", args=[backtest.pk])).content.decode()
    stop = re.sub(r"<[^>]+>", "", body.split('data-testid="report-stop"')[1].split("</dd>")[0])
    # The generated series starts at midnight UTC: 09:00 in Tokyo.
    assert "at 2024-01-01 09:00:" in stop and "JST" in stop
    trades = body.split('<section id="backtest-trades"')[1]
    assert "(times Asia/Tokyo)" in trades
    assert re.search(r">01-01 09:00:\d\d<", trades)


def test_every_backtest_error_shows_in_one_round(submit):
    """The form's errors and the service's (stake against the market, every regime blocked) in one submit."""
    response = submit(
        name="",
        seed="",
        base_stake="0.10",
        min_agreeing="4",
        blocked_regimes=["BULLISH", "BEARISH", "SIDEWAYS"],
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Give the backtest a name." in field_error(body, "name")
    assert "Enter a seed." in field_error(body, "seed")
    assert "at least 0.35" in field_error(body, "base_stake")
    assert "not 4" in field_error(body, "min_agreeing")
    assert "never let the bot trade" in field_error(body, "blocked_regimes")
    assert not Backtest.objects.exists()


def test_a_backtest_counts_the_commission_and_markup_the_traders_live_contracts_carry(trader, user, market, submit):
    from tests.revenue.support import commission_rule, partner, refer

    commission_rule("20.00")
    refer(user, partner(markup="15.00"))
    submit()
    backtest = Backtest.objects.get()
    assert (backtest.settings["commission_percent"], backtest.settings["markup_percent"]) == ("20.00", "15.00")
    report = backtest.report
    assert report["wins"] and Decimal(report["fees"]) > 0
    page = trader.get(reverse("bots:backtest", args=[backtest.pk])).content.decode()
    assert "wins pay commission 20% and partner markup 15% of their profit" in page
    assert "Fees on wins" in page
