"""A backtest saved while Redis (the task broker) is down answers as usual: it stays queued, never an error page."""

import pytest
from django.urls import reverse

from apps.bots.models import Backtest, BacktestStatus
from tests.support.redis import redis_unreachable

from .test_backtests import backtest_form

pytestmark = pytest.mark.django_db


def test_a_backtest_whose_run_cannot_be_queued_is_saved_and_shown(
    client, user, demo_account, market, settings, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(user)
    with redis_unreachable(settings, monkeypatch), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("bots:backtest_new"), backtest_form(market))

    backtest = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("bots:backtest", args=[backtest.pk])
    assert backtest.status == BacktestStatus.QUEUED
