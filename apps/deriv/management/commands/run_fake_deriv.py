"""Run the fake Deriv server (tests/fakes/deriv) for "Continue with Deriv" on a developer machine."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Start the fake Deriv (OAuth, REST, WebSockets) and print the environment lines that point Nexus at it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="HTTP port (OAuth + REST); WebSockets use port+1")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, host, port, seed, **options):
        # The fake lives with the tests; import it only here so production never loads it by accident.
        try:
            from tests.fakes.deriv import FakeDeriv
        except ImportError as exc:
            raise CommandError("The fake Deriv lives in tests/fakes/deriv: run this from a source checkout.") from exc

        fake = FakeDeriv(
            host=host, http_port=port, ws_port=port + 1, seed=seed, clock_start=None, frozen=False, history_seconds=3600
        ).start()
        try:
            self.stdout.write("Fake Deriv is running (Ctrl-C to stop). Start Nexus with:\n")
            for line in env_lines(fake):
                self.stdout.write(f"  {line}")
            demo, real = fake.account_id("demo"), fake.account_id("real")
            self.stdout.write(f"\n'Continue with Deriv' signs you in as {fake.users[fake.default_user].email}")
            self.stdout.write(f"(accounts {demo} demo, {real} real); the sign-up button creates a new Deriv user.")
            self.stdout.flush()
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(0.5):
                pass
        finally:
            fake.stop()


def env_lines(fake) -> list[str]:
    return [
        "DERIV_ENABLED=on",
        f"DERIV_CLIENT_ID={fake.client_id}",
        f"DERIV_AUTH_URL={fake.auth_base}",
        f"DERIV_REST_BASE={fake.rest_base}",
        f"DERIV_WS_PUBLIC={fake.ws_public_url}",
    ]
