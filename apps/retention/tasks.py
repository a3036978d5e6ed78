"""The daily retention run: each app drops (or, for audit, archives) what is older than its setting.

One task for every kind of record, scheduled once a day (migration 0001).
Each service works on its own, so one failing does not keep the others from
running; the task still fails afterwards, so django-q records the failure.
"""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from apps.audit.services import audit_archive
from apps.markets.services import candles_purge
from apps.notifications.services import notifications_purge

from .services import failed_tasks_purge

logger = logging.getLogger(__name__)


def retention_run() -> dict[str, int]:
    """Apply every retention setting once; returns how many records each step removed."""
    nexus = settings.NEXUS
    now = timezone.now()

    def before(days_setting: str):
        return now - timedelta(days=nexus[days_setting])

    steps = {
        "notifications": lambda: notifications_purge(before=before("NOTIFICATION_RETENTION_DAYS")),
        "audit_archived": lambda: audit_archive(
            before=before("AUDIT_RETENTION_DAYS"), directory=Path(nexus["AUDIT_ARCHIVE_DIR"])
        ),
        "candles": lambda: candles_purge(before=before("CANDLE_RETENTION_DAYS")),
        "failed_tasks": lambda: failed_tasks_purge(before=before("FAILED_TASK_RETENTION_DAYS")),
    }
    done, failed = {}, []
    for name, step in steps.items():
        try:
            done[name] = step()
        except Exception:
            logger.exception("retention step %s failed", name)
            failed.append(name)
    logger.info("retention: %s", ", ".join(f"{name} {count}" for name, count in done.items()))
    if failed:
        raise RuntimeError(f"retention steps failed: {', '.join(failed)}")
    return done
