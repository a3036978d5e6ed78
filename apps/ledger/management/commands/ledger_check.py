from django.core.management.base import BaseCommand, CommandError

from apps.ledger.checks import ledger_breaches


class Command(BaseCommand):
    help = "Verify the money invariants; exits non-zero on any breach."

    def handle(self, *args, **options):
        breaches = ledger_breaches()
        for breach in breaches:
            self.stderr.write(f"BREACH: {breach}")
        if breaches:
            raise CommandError(f"{len(breaches)} ledger invariant breach(es).")
        self.stdout.write(self.style.SUCCESS("Ledger OK: every invariant holds."))
