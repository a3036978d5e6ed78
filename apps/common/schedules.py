"""Recurring worker tasks (django-q2 schedules), created by each owning app's data migration."""

from django.db import migrations

EVERY_MINUTE, DAILY = "I", "D"  # django_q.models.Schedule.MINUTES, Schedule.DAILY


def schedule_operation(*, name: str, func: str, schedule_type: str = EVERY_MINUTE) -> migrations.RunPython:
    """A migration operation creating (or updating) the schedule `name` that runs `func`; reversed, it goes."""
    defaults = {"func": func, "schedule_type": schedule_type, "repeats": -1}
    if schedule_type == EVERY_MINUTE:
        defaults["minutes"] = 1

    def create(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.update_or_create(name=name, defaults=defaults)

    def delete(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name=name).delete()

    return migrations.RunPython(create, delete)
