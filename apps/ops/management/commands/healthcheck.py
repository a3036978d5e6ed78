from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from apps.ops.selectors import heartbeat_problems


class Command(BaseCommand):
    help = (
        "Exit non-zero when the feed's heartbeat, or this host's qcluster heartbeat (of the cluster "
        "Q_CLUSTER_NAME names), is stale or missing (container healthchecks). "
        "The web process is checked over HTTP at /ready/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--process", choices=["worker", "feed"], required=True)

    def handle(self, *args, **options):
        try:
            problems = heartbeat_problems(options["process"])
        except DatabaseError as error:
            raise CommandError(f"database unreachable: {error.__class__.__name__}") from error
        if problems:
            raise CommandError("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
        self.stdout.write(f"{options['process']}: ok")
