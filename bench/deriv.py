"""Deriv benchmark: what N live viewers of Deriv markets cost upstream, at Deriv.

    .venv/bin/python bench/deriv.py [--users 10,100,1000] [--window 30] [--ping 30]

Everything runs in this process against the fake Deriv server
(tests/fakes/deriv) with its clock at real speed, so its ten synthetic
indices tick as Deriv's do (R_* every 2 s, 1HZ* every second), and a fresh
migrated SQLite file in a temporary directory.

For each number of users N, side by side, one after the other:

  ours   the real apps.deriv.feed.DerivFeed, as `manage.py runfeed` runs it:
         one public socket, one stream per active Deriv market, ticks into
         the database and, after each commit, the real tick listeners (the
         live-page push renders once per market and sends to `market.<symbol>`).
         The N viewers watch the 10 markets through the live pages: each is a
         channel on the channel layer that joined its market's group, which is
         all the LiveConsumer does when a page subscribes. No viewer reaches Deriv.
  naive  one upstream subscription per viewer: viewer i streams its market
         itself. Deriv refuses a second stream of one symbol on a socket
         (AlreadySubscribed), so the cheapest layout is ceil(N/10) sockets
         with one stream of each market.

Figures, over --window seconds of steady state (after --warmup), as the fake
server counts them (what Deriv would see), both sides with Deriv's 30 s
keep-alive ping (--ping):
  upstream subscriptions   live streams on the public sockets
  upstream requests/s      frames sent to Deriv during the window
  upstream messages/s      stream frames received from Deriv (ours: ticks stored)
  viewer pushes/s          fragments delivered to the viewers' channels (ours)

Only the upstream cost is compared: the naive side stores nothing and renders
nothing. Nothing here asserts on time. The last line printed is one JSON object
with every figure.

The Speed section's second half, purchase latency through the fake (the shared
authenticated socket against a naive connect-authorize-buy per trade), joins
this file with Deriv trading.
"""

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.deriv import FakeDeriv  # noqa: E402  (no Django in the fake)

MARKETS = 10


def _configure(database: str, ws_public: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "nexus.settings"
    os.environ["DEBUG"] = "on"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    # Pushes go to an in-memory channel layer in this process, worker tasks are
    # queued in the throwaway database: nothing leaves this machine.
    os.environ["REDIS_URL"] = ""
    os.environ["Q_SYNC"] = "off"
    os.environ["DERIV_ENABLED"] = "on"
    os.environ["DERIV_WS_PUBLIC"] = ws_public
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # no query log
    # Room for every push of a window in each viewer's queue, kept until counted.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 100_000, "expiry": 3600},
        }
    }
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Window:
    """Counts taken at the start and the end of the steady-state window."""

    def __init__(self, fake: FakeDeriv, seconds: float):
        self.fake, self.seconds = fake, seconds

    def measure(self, received):
        start_requests = len(self.fake.requests(kind="public"))
        start_received = received()
        time.sleep(self.seconds)
        requests = len(self.fake.requests(kind="public")) - start_requests
        messages = received() - start_received
        return {
            "subscriptions": self.fake.subscription_count("public"),
            "sockets": self.fake.socket_count("public"),
            "requests": requests,
            "requests_per_s": requests / self.seconds,
            "messages_per_s": messages / self.seconds,
        }


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


def run_ours(fake: FakeDeriv, users: int, args) -> dict:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.db import connection

    from apps.deriv.feed import DerivFeed
    from apps.markets.models import Market, Source, Tick
    from apps.realtime.push import market_group

    layer = get_channel_layer()
    async_to_sync(layer.flush)()
    feed = DerivFeed(ping_interval=args.ping)
    stop = threading.Event()

    def run():
        try:
            feed.run_forever(stop.is_set)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="deriv-feed", daemon=True)
    thread.start()
    wait_until(lambda: fake.subscription_count("public") == MARKETS, 30, "the feed's streams")
    symbols = list(Market.objects.filter(source=Source.DERIV, is_active=True).values_list("symbol", flat=True))
    viewers = [f"viewer.{users}.{i}" for i in range(users)]

    async def watch():  # what LiveConsumer._subscribe does for each page
        for i, channel in enumerate(viewers):
            await layer.group_add(market_group(symbols[i % len(symbols)]), channel)

    async_to_sync(watch)()
    time.sleep(args.warmup)

    def pushes() -> int:
        return sum(layer.channels[c].qsize() for c in viewers if c in layer.channels)

    before_pushes = pushes()
    figures = Window(fake, args.window).measure(lambda: Tick.objects.count())
    figures["viewer_pushes_per_s"] = (pushes() - before_pushes) / args.window
    stop.set()
    thread.join(10)
    wait_until(lambda: fake.socket_count("public") == 0, 30, "the feed's socket to close")
    return figures


def run_naive(fake: FakeDeriv, users: int, args) -> dict:
    from apps.deriv import adapter
    from apps.deriv.client import DerivClient
    from apps.deriv.markets import deriv_symbols

    symbols = list(deriv_symbols())[:MARKETS]
    received = [0]
    lock = threading.Lock()

    def on_tick(message):
        with lock:
            received[0] += 1

    clients = []
    try:
        for k in range(math.ceil(users / len(symbols))):
            client = DerivClient(fake.ws_public_url, name=f"naive-{k}", ping_interval=args.ping).connect()
            clients.append(client)
            for i in range(k * len(symbols), min(users, (k + 1) * len(symbols))):
                client.subscribe(adapter.ticks_request(symbols[i % len(symbols)]), on_tick)
        time.sleep(args.warmup)
        return Window(fake, args.window).measure(lambda: received[0])
    finally:
        for client in clients:
            client.close()
        wait_until(lambda: fake.socket_count("public") == 0, 30, "the naive sockets to close")


def ratio(naive: float, ours: float) -> float | None:
    return round(naive / ours, 1) if ours else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="10,100,1000", help="numbers of viewers, comma-separated")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of steady state measured per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the streams start, not measured")
    parser.add_argument("--ping", type=float, default=30.0, help="keep-alive ping interval (Deriv's: 30 s)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.users.split(",")]

    fake = FakeDeriv(frozen=False, clock_start=None, speed=1.0, history_seconds=300).start()
    results = {}
    with tempfile.TemporaryDirectory(prefix="nexus-bench-deriv-") as directory:
        _configure(str(Path(directory) / "bench.sqlite3"), fake.ws_public_url)
        print(f"fake Deriv at real speed; {MARKETS} markets; window {args.window:.0f}s; ping every {args.ping:.0f}s")
        for users in sizes:
            ours = run_ours(fake, users, args)
            naive = run_naive(fake, users, args)
            results[users] = (ours, naive)
            print(f"  {users} users done")
        # Purchase latency (the Speed section's second half) comes here with Deriv trading.
    fake.stop()
    fake.assert_no_invalid_requests()

    head = f"{'users':>6} | {'subs':>5} {'req/s':>7} {'msg/s':>6} {'socks':>5} {'push/s':>7} |"
    print()
    print(f"{'':6} | {'ours (one stream per market)':^36} | {'naive (one stream per viewer)':^29} | naive/ours")
    print(head + f" {'subs':>5} {'req/s':>7} {'msg/s':>7} {'socks':>5} | {'subs':>5} {'req/s':>6}")
    summary: dict = {"users": sizes, "window_s": args.window, "ping_interval_s": args.ping, "markets": MARKETS}
    for users, (ours, naive) in results.items():
        print(
            f"{users:>6} | {ours['subscriptions']:>5} {ours['requests_per_s']:>7.3f} {ours['messages_per_s']:>6.1f}"
            f" {ours['sockets']:>5} {ours['viewer_pushes_per_s']:>7.1f} |"
            f" {naive['subscriptions']:>5} {naive['requests_per_s']:>7.3f} {naive['messages_per_s']:>7.1f}"
            f" {naive['sockets']:>5} |"
            f" {ratio(naive['subscriptions'], ours['subscriptions']) or '-':>5}"
            f" {ratio(naive['requests_per_s'], ours['requests_per_s']) or '-':>6}"
        )
        at = f"_at_{users}_users"
        summary |= {
            f"upstream_subscriptions{at}": ours["subscriptions"],
            f"upstream_requests_per_s{at}": round(ours["requests_per_s"], 4),
            f"upstream_messages_per_s{at}": round(ours["messages_per_s"], 2),
            f"upstream_sockets{at}": ours["sockets"],
            f"viewer_pushes_per_s{at}": round(ours["viewer_pushes_per_s"], 1),
            f"naive_upstream_subscriptions{at}": naive["subscriptions"],
            f"naive_upstream_requests_per_s{at}": round(naive["requests_per_s"], 4),
            f"naive_upstream_messages_per_s{at}": round(naive["messages_per_s"], 2),
            f"naive_upstream_sockets{at}": naive["sockets"],
        }
    ours, naive = results[max(sizes)]
    summary |= {
        "upstream_subscriptions": ours["subscriptions"],
        "upstream_requests_per_s": round(ours["requests_per_s"], 4),
        "naive_upstream_subscriptions": naive["subscriptions"],
        "naive_upstream_requests_per_s": round(naive["requests_per_s"], 4),
        "ratio_upstream_subscriptions_naive_over_ours": ratio(naive["subscriptions"], ours["subscriptions"]),
        "ratio_upstream_requests_naive_over_ours": ratio(naive["requests_per_s"], ours["requests_per_s"]),
        "ratio_upstream_messages_naive_over_ours": ratio(naive["messages_per_s"], ours["messages_per_s"]),
        "upstream_subscriptions_flat": len({results[n][0]["subscriptions"] for n in sizes}) == 1,
    }
    met = ours["subscriptions"] == MARKETS and ours["requests_per_s"] < 1 and summary["upstream_subscriptions_flat"]
    print(
        f"\ntarget ({MARKETS} subscriptions, well under 1 request/s, flat in the number of users):"
        f" {'met' if met else 'NOT met'}"
    )
    summary["target_met"] = met
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
