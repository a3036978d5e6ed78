"""Run the fake Stripe on its own: `python -m tests.fakes.stripe --port 8770 --webhook-url http://127.0.0.1:8000/billing/stripe/webhook/`."""

import argparse
import signal
import threading

from .server import FakeStripe


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.stripe", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8770)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/billing/stripe/webhook/")
    args = parser.parse_args(argv)
    fake = FakeStripe(host=args.host, port=args.port, webhook_url=args.webhook_url).start()
    print("Fake Stripe is running (Ctrl-C to stop)")
    for line in fake.env_lines():
        print(f"  {line}")
    print(f"  webhooks go to {fake.webhook_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    fake.stop()


if __name__ == "__main__":
    main()
