import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.markets.feed import OtcFeed, OutsideFeed
from apps.markets.signals import feeds_requested

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the market feed: writes ticks and candles, then hands settlement to the worker."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            default="all",
            help="all (default): OTC, plus each outside source that is on (Deriv with DERIV_ENABLED); "
            "otc, or one outside source (deriv) alone.",
        )

    def handle(self, *args, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        source = options["source"]
        outside = {feed.name: feed for _, feed in feeds_requested.send(sender=OtcFeed) if feed}
        if source not in ("all", "otc", *outside):
            raise CommandError(f"Unknown source {source!r}: choose one of {', '.join(['all', 'otc', *outside])}.")
        if source in outside and outside[source].run is None:
            raise CommandError(outside[source].note)
        threads = []
        for feed in outside.values():
            if feed.run is not None and source in ("all", feed.name):
                thread = threading.Thread(
                    target=_run_outside, args=(feed, lambda: stopping), name=f"{feed.name}-feed", daemon=True
                )
                thread.start()
                threads.append(thread)
                self.stdout.write(feed.note)
        if source in ("all", "otc"):
            feed = OtcFeed()
            feed.refresh()
            self.stdout.write(f"Feed running for {len(feed.markets)} OTC markets.")
            feed.run_forever(should_stop=lambda: stopping)
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # short waits, so the signal handler still runs
        self.stdout.write("Feed stopped.")


def _run_outside(feed: OutsideFeed, should_stop) -> None:
    """An outside feed on its own thread: its database connection is this thread's, closed when it ends."""
    try:
        feed.run(should_stop)
    except Exception:
        logger.exception("the %s feed stopped", feed.name)
    finally:
        connection.close()
