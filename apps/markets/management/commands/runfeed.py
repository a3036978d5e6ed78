import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.markets.feed import OtcFeed

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the market feed: writes ticks and candles, then hands settlement to the worker."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            choices=["all", "otc", "deriv"],
            default="all",
            help="all (default): OTC, plus Deriv when DERIV_ENABLED is on; otc or deriv: that source alone.",
        )

    def handle(self, *args, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        source = options["source"]
        if source == "deriv" and not settings.DERIV["ENABLED"]:
            raise CommandError("The Deriv feed is off: set DERIV_ENABLED=on.")
        deriv = []
        if source in ("all", "deriv") and settings.DERIV["ENABLED"]:
            # Public market data only: the trading sockets are `run_deriv`'s, one process per deployment.
            thread = threading.Thread(target=_run_deriv, args=(lambda: stopping,), name="deriv-feed", daemon=True)
            thread.start()
            deriv.append(thread)
            self.stdout.write(f"Deriv feed running on {settings.DERIV['WS_PUBLIC']}.")
        if source in ("all", "otc"):
            feed = OtcFeed()
            feed.refresh()
            self.stdout.write(f"Feed running for {len(feed.markets)} OTC markets.")
            feed.run_forever(should_stop=lambda: stopping)
        for thread in deriv:
            while thread.is_alive():
                thread.join(0.5)  # short waits, so the signal handler still runs
        self.stdout.write("Feed stopped.")


def _run_deriv(should_stop) -> None:
    """The Deriv feed on its own thread: its database connection is this thread's, closed when it ends."""
    from apps.deriv.feed import DerivFeed

    try:
        DerivFeed().run_forever(should_stop=should_stop)
    except Exception:
        logger.exception("the Deriv feed stopped")
    finally:
        connection.close()
