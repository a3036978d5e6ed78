"""The dead-man's switch: staff get one email when the feed or the worker goes silent, and one when it is back.

Run every minute by the worker's schedule, by the OTC feed's loop (so a dead worker is noticed) and by
`manage.py deadman_check` (cron, for when both are down). A `SilenceAlert` row per silent process
remembers that staff were told, so an outage is one email however long it lasts; its emails are sent by
the process that notices, not the worker.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from .email import Email, emails_queue
from .models import SilenceAlert


def silences(now=None) -> dict[str, str | None]:
    """{process: why it is silent, or None} for each feed source and the default worker cluster."""
    from apps.markets.models import FeedStatus
    from apps.ops.models import WorkerHeartbeat
    from apps.ops.selectors import feed_sources

    now = now or timezone.now()
    limit = settings.NOTIFICATIONS["DEADMAN_SILENCE_S"]

    def problem(beat) -> str | None:
        if beat is None:
            return "no heartbeat yet"
        age = (now - beat).total_seconds()
        return f"silent for {age:.0f} s (limit {limit:g} s)" if age > limit else None

    beats = dict(FeedStatus.objects.values_list("source", "heartbeat_at"))
    checks = {f"feed {source.lower()}": problem(beats.get(source)) for source in feed_sources()}
    cluster = settings.Q_CLUSTER.get("name", "default")
    last = WorkerHeartbeat.objects.filter(cluster=cluster).aggregate(last=Max("beat_at"))["last"]
    checks[f"worker {cluster}"] = problem(last)
    return checks


def deadman_check(now=None) -> list[str]:
    """Email staff about each process that went silent or came back since the last check; returns what was told."""
    told = []
    for name, problem in silences(now).items():
        with transaction.atomic():
            alert = SilenceAlert.objects.select_for_update().filter(check_name=name).first()
            if problem and alert is None:
                try:
                    with transaction.atomic():
                        SilenceAlert.objects.create(check_name=name, problem=problem[:300])
                except IntegrityError:  # another check told staff first
                    continue
                _tell_staff("deadman_silent", {"process": name, "problem": problem})
                told.append(f"{name} silent")
            elif not problem and alert is not None:
                alert.delete()
                _tell_staff("deadman_recovered", {"process": name, "since": alert.since, "problem": alert.problem})
                told.append(f"{name} recovered")
    return told


def _tell_staff(template: str, context: dict) -> None:
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    emails_queue(
        [Email(user_id, address, "", template, context) for user_id, address in staff.values_list("pk", "email")],
        send_here=True,
    )
