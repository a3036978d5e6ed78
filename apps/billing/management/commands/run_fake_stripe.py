"""Run the fake Stripe (tests/fakes/stripe) to try plans, Checkout, the portal and webhooks on a developer machine."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from apps.billing.models import Plan


class Command(BaseCommand):
    help = "Start the fake Stripe and print the environment lines that point Nexus at it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8770)
        parser.add_argument(
            "--webhook-url",
            default="http://127.0.0.1:8000/billing/stripe/webhook/",
            help="where the fake POSTs its signed events (Nexus's webhook endpoint)",
        )
        parser.add_argument(
            "--link-plans",
            action="store_true",
            help="store the fake's price ids on the Basic and Pro plans that have none",
        )

    def handle(self, *args, host, port, webhook_url, link_plans, **options):
        # The fake lives with the tests; import it only here so production never loads it by accident.
        try:
            from tests.fakes.stripe import FakeStripe
        except ImportError as exc:
            raise CommandError("The fake Stripe lives in tests/fakes/stripe: run this from a source checkout.") from exc

        fake = FakeStripe(host=host, port=port, webhook_url=webhook_url).start()
        try:
            self.stdout.write("Fake Stripe is running (Ctrl-C to stop). Start Nexus with:\n")
            for line in fake.env_lines():
                self.stdout.write(f"  {line}")
            self.stdout.write(f"\nSigned webhooks go to {webhook_url}")
            self.stdout.write(f"Prices on sale: {', '.join(fake.prices)}")
            if link_plans:
                for code in ("basic", "pro"):
                    linked = Plan.objects.filter(code=code, stripe_price_monthly="", stripe_price_yearly="").update(
                        stripe_price_monthly=f"price_{code}_month", stripe_price_yearly=f"price_{code}_year"
                    )
                    if linked:
                        self.stdout.write(f"The {code} plan now sells price_{code}_month and price_{code}_year.")
            self.stdout.flush()
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(0.5):
                pass
        finally:
            fake.stop()
