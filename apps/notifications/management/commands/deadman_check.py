from django.core.management.base import BaseCommand

from apps.notifications.deadman import deadman_check, silences


class Command(BaseCommand):
    help = (
        "The dead-man's switch, for cron or any process that outlives the worker: email staff once when the "
        "feed or the worker has been silent longer than DEADMAN_SILENCE_S, and once when it is back. "
        "The worker runs the same check every minute."
    )

    def handle(self, *args, **options):
        told = deadman_check()
        for name, problem in silences().items():
            self.stdout.write(f"{name}: {problem or 'ok'}")
        for line in told:
            self.stdout.write(f"staff emailed: {line}")
