"""Bug 9: a backtest's stop reason says when it stopped in words a trader reads, not as ISO text."""

import re

from django.urls import reverse

from apps.bots.models import Backtest

from .test_backtests import submit  # noqa: F401 - fixture


def test_the_stop_time_is_shown_with_the_date_filter_in_the_traders_time_zone(trader, submit, settings):  # noqa: F811
    submit()
    backtest = Backtest.objects.get()
    backtest.report = backtest.report | {"stop_reason": "CONSECUTIVE_LOSSES", "stopped_at": "2026-03-04T05:06:07+00:00"}
    backtest.save(update_fields=["report"])

    body = trader.get(reverse("bots:backtest", args=[backtest.pk])).content.decode()
    stop = re.sub(r"<[^>]+>", "", re.search(r'data-testid="report-stop">(.*?)</dd>', body, re.S).group(1))

    assert "at 2026-03-04 05:06:07 UTC" in stop
    assert "T05:06:07" not in stop and "+00:00" not in stop


def test_the_admin_names_kill_switches_in_the_plural(admin_client):
    body = admin_client.get(reverse("admin:bots_killswitch_changelist")).content.decode()

    assert "Kill switches" in body
    assert "Kill switchs" not in body
    assert "switchs" not in admin_client.get(reverse("admin:index")).content.decode()
