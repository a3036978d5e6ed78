"""Retention of what no app of ours owns: django-q2's record of failed tasks."""

from datetime import datetime

from django_q.models import Failure


def failed_tasks_purge(*, before: datetime) -> int:
    """Delete failed task records that stopped before `before`; returns how many went."""
    deleted, _ = Failure.objects.filter(stopped__lt=before).delete()
    return deleted
