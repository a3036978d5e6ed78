"""The dead-man's switch: one email to staff when the feed or the worker goes silent, one when it is back."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.markets.models import FeedStatus, Source
from apps.notifications.deadman import deadman_check
from apps.notifications.models import SilenceAlert
from apps.ops.models import WorkerHeartbeat
from apps.users.models import User


@pytest.fixture
def staff(db):
    return User.objects.create_user("ops@example.com", "pw-for-tests-123", is_staff=True)


@pytest.fixture
def alive(db, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "DEADMAN_SILENCE_S": 300.0}
    now = timezone.now()
    FeedStatus.objects.update_or_create(source=Source.OTC, defaults={"heartbeat_at": now})
    WorkerHeartbeat.objects.create(cluster=settings.Q_CLUSTER["name"], host="w1", pid=1, beat_at=now)
    return now


def check(callbacks, now):
    with callbacks(execute=True):
        return deadman_check(now)


def test_one_email_per_outage_and_one_when_it_recovers(staff, alive, django_capture_on_commit_callbacks):
    assert check(django_capture_on_commit_callbacks, alive) == []
    later = alive + timedelta(seconds=301)
    assert check(django_capture_on_commit_callbacks, later) == ["feed otc silent", "worker nexus silent"]
    assert check(django_capture_on_commit_callbacks, later + timedelta(minutes=30)) == []
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == ["Nexus: Staff: feed otc is silent", "Nexus: Staff: worker nexus is silent"]
    assert all(m.to == ["ops@example.com"] for m in mail.outbox)
    assert "silent for 301 s (limit 300 s)" in mail.outbox[0].body
    FeedStatus.objects.filter(source=Source.OTC).update(heartbeat_at=later)
    assert check(django_capture_on_commit_callbacks, later + timedelta(seconds=5)) == ["feed otc recovered"]
    assert mail.outbox[-1].subject == "Nexus: Staff: feed otc is back"
    assert check(django_capture_on_commit_callbacks, later + timedelta(seconds=10)) == []
    assert list(SilenceAlert.objects.values_list("check_name", flat=True)) == ["worker nexus"]
    assert len(mail.outbox) == 3


def test_staff_emails_are_sent_by_the_process_that_notices_not_the_worker(
    staff, alive, monkeypatch, django_capture_on_commit_callbacks
):
    """The news may be that the worker is down: nothing is handed to the queue."""
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: pytest.fail("queued"))
    check(django_capture_on_commit_callbacks, alive + timedelta(seconds=301))
    assert len(mail.outbox) == 2


def test_traders_get_nothing(user, alive, django_capture_on_commit_callbacks):
    check(django_capture_on_commit_callbacks, alive + timedelta(seconds=301))
    assert mail.outbox == []


def test_the_command_reports_each_process_and_emails_staff(staff, capsys, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        call_command("deadman_check")
    out = capsys.readouterr().out
    assert "feed otc: no heartbeat yet" in out and "staff emailed: feed otc silent" in out
    assert len(mail.outbox) == 2


def test_the_feed_runs_the_check_every_minute_and_a_failure_never_stops_it(db, monkeypatch):
    from apps.markets.feed import OtcFeed
    from apps.notifications import deadman

    calls = []
    monkeypatch.setattr(deadman, "deadman_check", lambda: calls.append(1) or 1 / 0)
    feed = OtcFeed()
    feed.deadman_check()
    assert calls == [1]
    assert feed.last_deadman > 0
