import logging
import signal

from django.core.management.base import BaseCommand

from apps.markets.feed import OtcFeed

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the market feed: writes ticks and candles, then hands settlement to the worker."

    def handle(self, *args, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        feed = OtcFeed()
        feed.refresh()
        self.stdout.write(f"Feed running for {len(feed.markets)} OTC markets.")
        feed.run_forever(should_stop=lambda: stopping)
        self.stdout.write("Feed stopped.")
