"""Backtests within bounds: their own cluster, a cap per trader, a length that fits the time limit, FAILED with why."""

import html
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.exceptions import TimeoutException
from django_q.signals import pre_enqueue
from django_q.timeout import TimeoutHandler

from apps.bots.backtests import STOPPED_BY_WORKER, ProgressWriter, backtest_run
from apps.bots.models import Backtest, BacktestStatus
from apps.bots.tasks import fail_stale_backtests

from .conftest import climb, write_ticks
from .test_backtests import backtest_form
from .test_views import HX, field_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def submit(trader, market, django_capture_on_commit_callbacks):
    def post(headers=None, **overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return trader.post(reverse("bots:backtest_new"), backtest_form(market, **overrides), headers=headers or {})

    return post


@pytest.fixture
def enqueued():
    """Every task handed to django-q2 while the test runs, as it was queued."""
    tasks = []

    def record(sender, task, **kwargs):
        tasks.append(dict(task))

    pre_enqueue.connect(record, dispatch_uid="tests.enqueued")
    yield tasks
    pre_enqueue.disconnect(dispatch_uid="tests.enqueued")


def a_backtest(user, market, *, status=BacktestStatus.QUEUED, **fields) -> Backtest:
    defaults = {
        "name": "Waiting",
        "source": "GENERATED",
        "start": timezone.now(),
        "end": timezone.now(),
        "seed": 1,
        "settings": {"strategies": {"momentum": {}}, "length": 1000},
    }
    return Backtest.objects.create(user=user, market=market, status=status, **defaults | fields)


def test_a_backtest_is_queued_on_the_backtest_cluster_not_the_default(submit, enqueued, settings):
    submit()
    runs = [t for t in enqueued if t["func"] == "apps.bots.tasks.run_backtest"]
    assert [t.get("cluster") for t in runs] == [settings.BACKTESTS["CLUSTER"]] == ["backtests"]
    assert settings.Q_CLUSTER["name"] != "backtests"
    # The backtest cluster has its own, longer time limit and tries once.
    alt = settings.Q_CLUSTER["ALT_CLUSTERS"]["backtests"]
    assert alt["timeout"] == settings.BACKTESTS["TIMEOUT_S"] > settings.Q_CLUSTER["timeout"]
    assert alt["retry"] > alt["timeout"]
    assert alt["max_attempts"] == 1


def test_settlement_stays_on_the_default_cluster(feed, market, user, demo_account, enqueued):
    from apps.trading.services import contract_buy

    contract_buy(
        user=user,
        account=demo_account,
        market=market,
        direction="RISE",
        stake=Decimal("1.00"),
        duration=1,
        duration_unit="t",
        idempotency_key="settle-on-default",
    )
    feed.tick(3)
    settles = [t for t in enqueued if t["func"] == "apps.trading.tasks.settle_markets"]
    assert settles, "the feed queued no settlement"
    assert all(t.get("cluster") is None for t in settles)


def test_the_form_says_how_many_backtests_may_run_at_once(trader, settings):
    settings.BACKTESTS = settings.BACKTESTS | {"MAX_ACTIVE": 3}
    body = trader.get(reverse("bots:backtest_new")).content.decode()
    assert "Up to 3 of your backtests can be queued or running at once." in body


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_trader_at_the_cap_is_refused_with_a_message_and_nothing_is_queued(submit, user, market, enqueued, headers):
    a_backtest(user, market, status=BacktestStatus.QUEUED)
    a_backtest(user, market, status=BacktestStatus.RUNNING)
    a_backtest(user, market, status=BacktestStatus.DONE)
    a_backtest(user, market, status=BacktestStatus.FAILED)
    response = submit(headers=headers)
    assert response.status_code == 422
    assert field_error(response.content.decode(), "__all__") == (
        "You already have 2 backtests queued or running, the most at once: wait for one to finish."
    )
    assert Backtest.objects.count() == 4
    assert not enqueued


def test_the_cap_counts_only_the_traders_own_unfinished_backtests(submit, user, other_user, market):
    a_backtest(other_user, market)
    a_backtest(other_user, market)
    a_backtest(user, market)
    response = submit()
    assert response.status_code == 302
    assert Backtest.objects.filter(user=user).count() == 2


def test_a_generated_series_longer_than_the_setting_is_refused(submit, settings):
    settings.BACKTESTS = settings.BACKTESTS | {"MAX_TICKS": 1000}
    response = submit(length="1001")
    assert response.status_code == 422
    assert field_error(response.content.decode(), "length") == (
        "Generate at most 1,000 ticks: a longer run does not fit the backtest time limit."
    )
    assert not Backtest.objects.exists()
    assert submit(length="1000").status_code == 302


def test_a_recorded_period_with_more_ticks_than_the_setting_is_refused(submit, market, settings):
    settings.BACKTESTS = settings.BACKTESTS | {"MAX_TICKS": 250}
    ticks = write_ticks(market, climb(400))
    local = "%Y-%m-%dT%H:%M:%S.%f"

    def period(first, last):
        start, end = (timezone.localtime(t.time).strftime(local) for t in (first, last))
        return submit(source="RECORDED", start=start, end=end, seed="", length="")

    response = period(ticks[0], ticks[300])
    assert response.status_code == 422
    assert "more than 250 ticks" in field_error(response.content.decode(), "end")
    assert not Backtest.objects.exists()
    assert period(ticks[0], ticks[250]).status_code == 302


def test_a_run_stopped_at_the_time_limit_is_failed_with_the_reason(trader, user, market, submit, monkeypatch):
    from apps.bots.engine import backtest as engine

    submit()
    template = Backtest.objects.get()
    long = a_backtest(user, market, settings=template.settings, start=template.start)

    def outlives_the_limit(spec, ticks, progress, total, on_trade=None):
        time.sleep(10)

    monkeypatch.setattr(engine, "run", outlives_the_limit)
    # django-q2's own time limit, as the worker sets it around a task: a SystemExit in the task.
    with pytest.raises(TimeoutException), TimeoutHandler(1):
        backtest_run(backtest_id=long.pk)
    long.refresh_from_db()
    assert long.status == BacktestStatus.FAILED
    assert long.error == STOPPED_BY_WORKER
    assert long.finished_at is not None
    page = html.unescape(trader.get(reverse("bots:backtest", args=[long.pk])).content.decode())
    assert "The backtest failed: stopped by the worker (time limit)." in page
    listing = html.unescape(trader.get(reverse("bots:backtests")).content.decode())
    assert "Failed: <span" in listing and "stopped by the worker (time limit)." in listing


def test_the_sweep_fails_runs_whose_heartbeat_stopped_longer_than_the_time_limit(trader, user, market, settings):
    limit = timedelta(seconds=settings.BACKTESTS["TIMEOUT_S"])
    now = timezone.now()
    killed = a_backtest(user, market, status=BacktestStatus.RUNNING, heartbeat_at=now - limit - timedelta(seconds=5))
    alive = a_backtest(user, market, status=BacktestStatus.RUNNING, heartbeat_at=now - limit + timedelta(seconds=30))
    queued = a_backtest(user, market, status=BacktestStatus.QUEUED)
    Backtest.objects.filter(pk=queued.pk).update(created_at=now - timedelta(hours=23))
    lost = a_backtest(user, market, status=BacktestStatus.QUEUED)
    Backtest.objects.filter(pk=lost.pk).update(created_at=now - timedelta(hours=25))
    # Left RUNNING before heartbeats existed.
    ancient = a_backtest(user, market, status=BacktestStatus.RUNNING)
    Backtest.objects.filter(pk=ancient.pk).update(created_at=now - limit * 2)

    assert fail_stale_backtests() == 3
    statuses = dict(Backtest.objects.values_list("pk", "status"))
    assert statuses == {
        killed.pk: BacktestStatus.FAILED,
        alive.pk: BacktestStatus.RUNNING,
        queued.pk: BacktestStatus.QUEUED,
        lost.pk: BacktestStatus.FAILED,
        ancient.pk: BacktestStatus.FAILED,
    }
    assert Backtest.objects.get(pk=lost.pk).error == "never started: the task queue lost it. Run it again."
    killed.refresh_from_db()
    assert killed.error == STOPPED_BY_WORKER
    page = html.unescape(trader.get(reverse("bots:backtest", args=[killed.pk])).content.decode())
    assert "The backtest failed: stopped by the worker (time limit)." in page
    assert "every 1s" not in page  # no more polling
    # A late delivery of its task leaves the failed run alone.
    assert backtest_run(backtest_id=killed.pk) == "skipped"
    assert fail_stale_backtests() == 0


def test_the_sweep_runs_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="backtests-fail-stale")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "apps.bots.tasks.fail_stale_backtests",
        Schedule.MINUTES,
        1,
    )
    assert schedule.cluster is None  # the default cluster runs it: a quick update


def test_a_run_writes_its_heartbeat_even_when_its_percent_stands_still(user, market):
    backtest = a_backtest(user, market, status=BacktestStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))
    beat = ProgressWriter(backtest.pk, every_s=0, heartbeat_s=0)
    beat(0, 100)  # 0%: no new percent, but a heartbeat is due
    backtest.refresh_from_db()
    assert backtest.progress == 0
    assert timezone.now() - backtest.heartbeat_at < timedelta(seconds=5)
    # Without a known total, the heartbeat still beats.
    Backtest.objects.filter(pk=backtest.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    beat(10, None)
    backtest.refresh_from_db()
    assert timezone.now() - backtest.heartbeat_at < timedelta(seconds=5)


def test_a_started_run_records_when_it_started_and_beats(submit):
    submit()
    backtest = Backtest.objects.get()
    assert backtest.status == BacktestStatus.DONE
    assert backtest.started_at is not None and backtest.heartbeat_at is not None
    assert backtest.created_at <= backtest.started_at <= backtest.finished_at
