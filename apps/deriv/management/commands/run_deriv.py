"""The Deriv connection manager as its own process: one per deployment, whatever the number of feeds.

It holds one authenticated socket per linked Deriv account and buys and follows
their contracts (apps.deriv.manager); web and worker processes reach it over the
channel layer. SIGINT or SIGTERM stops it cleanly: sockets closed, the accounts
shown disconnected.
"""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.deriv.manager import DerivConnections


class Command(BaseCommand):
    help = "Run the Deriv connection manager: one trading socket per linked Deriv account (run one per deployment)."

    def handle(self, *args, **options):
        if not settings.DERIV["ENABLED"]:
            raise CommandError("Deriv is off: set DERIV_ENABLED=on to run the Deriv connection manager.")
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("Deriv connection manager running (one trading socket per linked Deriv account).")
        self.stdout.flush()
        DerivConnections().run_forever(should_stop=lambda: stopping)
        self.stdout.write("Deriv connection manager stopped.")
