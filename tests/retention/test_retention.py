"""The daily retention run: notifications, candles and failed tasks go; audit events are archived, never lost."""

import gzip
import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_q.models import Schedule, Task

from apps.audit.models import AuditEvent
from apps.audit.services import audit_archive, audit_log
from apps.markets.models import Candle, Timeframe
from apps.notifications.models import Kind, Notification
from apps.retention.tasks import retention_run

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def retention(settings, tmp_path):
    settings.NEXUS = {
        **settings.NEXUS,
        "NOTIFICATION_RETENTION_DAYS": 30,
        "AUDIT_RETENTION_DAYS": 100,
        "AUDIT_ARCHIVE_DIR": str(tmp_path / "archive"),
        "CANDLE_RETENTION_DAYS": 10,
        "FAILED_TASK_RETENTION_DAYS": 7,
    }
    return tmp_path / "archive"


def aged_audit_event(action: str, age: timedelta, **kwargs) -> AuditEvent:
    event = audit_log(actor=None, action=action, **kwargs)
    # Audit rows are append-only: only a test back-dates one.
    AuditEvent._base_manager.filter(pk=event.pk).update(created_at=timezone.now() - age)
    return AuditEvent._base_manager.get(pk=event.pk)


def archived(directory) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("audit-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as archive:
            rows += [json.loads(line) for line in archive]
    return rows


def test_old_notifications_are_deleted(retention, user):
    now = timezone.now()
    for age in (31, 29):
        n = Notification.objects.create(user=user, kind=Kind.DEMO_RESET, title=f"{age} days old")
        Notification.objects.filter(pk=n.pk).update(created_at=now - age * DAY)

    assert retention_run()["notifications"] == 1
    assert list(Notification.objects.values_list("title", flat=True)) == ["29 days old"]


def test_old_audit_events_are_archived_whole_then_deleted(retention, user):
    old = [
        aged_audit_event("user.login", 101 * DAY, target=user, data={"why": "old", "amount": "1.50"}),
        aged_audit_event("market.change", 200 * DAY),
    ]
    recent = aged_audit_event("user.login", 99 * DAY)

    assert retention_run()["audit_archived"] == 2

    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    rows = archived(retention)
    assert [r["id"] for r in rows] == sorted(e.pk for e in old)
    first = next(r for r in rows if r["id"] == old[0].pk)
    assert first == {
        "id": old[0].pk,
        "created_at": old[0].created_at.isoformat(),
        "actor_id": None,
        "action": "user.login",
        "target_type": "users.user",
        "target_id": str(user.pk),
        "target_repr": str(user),
        "ip": None,
        "data": {"why": "old", "amount": "1.50"},
    }
    assert not list(retention.glob(".*partial"))


def test_archiving_in_batches_writes_one_file_per_batch_and_loses_nothing(retention):
    events = [aged_audit_event(f"event.{i}", 200 * DAY) for i in range(5)]

    assert audit_archive(before=timezone.now() - DAY, directory=retention, batch=2) == 5

    assert len(list(retention.glob("audit-*.jsonl.gz"))) == 3
    assert [r["action"] for r in archived(retention)] == [e.action for e in events]
    assert not AuditEvent.objects.exists()


def test_nothing_is_deleted_when_the_archive_cannot_be_written(retention):
    event = aged_audit_event("user.login", 200 * DAY)
    retention.parent.mkdir(parents=True, exist_ok=True)
    retention.write_text("a file where the archive directory should be")

    with pytest.raises(RuntimeError, match="audit_archived"):
        retention_run()

    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [event.pk]


def test_one_failing_step_does_not_stop_the_others(retention, user):
    retention.parent.mkdir(parents=True, exist_ok=True)
    retention.write_text("not a directory")
    n = Notification.objects.create(user=user, kind=Kind.DEMO_RESET, title="old")
    Notification.objects.filter(pk=n.pk).update(created_at=timezone.now() - 40 * DAY)

    with pytest.raises(RuntimeError):
        retention_run()

    assert not Notification.objects.exists()


def test_only_small_candles_beyond_the_setting_are_deleted(retention, markets):
    market = markets["VOL_10"]
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    price = Decimal("100")
    for timeframe in Timeframe.values:
        for age in (11, 9):
            Candle.objects.create(
                market=market,
                timeframe=timeframe,
                start=now - age * DAY,
                open=price,
                high=price,
                low=price,
                close=price,
                tick_count=1,
            )

    assert retention_run()["candles"] == 3

    kept = set(Candle.objects.values_list("timeframe", "start"))
    assert kept == {(tf, now - 9 * DAY) for tf in Timeframe.values} | {(Timeframe.H1, now - 11 * DAY)}


def test_failed_tasks_beyond_the_setting_are_deleted(retention):
    now = timezone.now()

    def task(success: bool, age: timedelta) -> str:
        pk = uuid.uuid4().hex
        Task.objects.create(
            id=pk, name=pk, func="apps.x.y", started=now - age, stopped=now - age, success=success, result=None
        )
        return pk

    old_failure, new_failure = task(False, 8 * DAY), task(False, 6 * DAY)
    old_success = task(True, 8 * DAY)

    assert retention_run()["failed_tasks"] == 1

    assert set(Task.objects.values_list("id", flat=True)) == {new_failure, old_success}
    assert old_failure not in set(Task.objects.values_list("id", flat=True))


def test_the_run_is_scheduled_daily():
    schedule = Schedule.objects.get(name="retention-daily")

    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "apps.retention.tasks.retention_run",
        Schedule.DAILY,
        -1,
    )
