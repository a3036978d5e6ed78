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

Then purchase latency (--purchases N, 0 to skip), with the fake's clock at
real speed: N purchases of a 5-tick Rise on R_10, stake 1, from one linked
Deriv demo account, each of three ways in turn (round robin, so all three see
the same load), one every --spacing seconds so no socket nears Deriv's 100
requests/s:

  ours         `contract_buy` as the web process calls it: validation, the
               mirrored stake in the ledger, a request over the channel layer
               (Redis, embedded here) to the real connection manager, which
               prices and buys on the account's socket, already open and
               authenticated, and answers. What a trader waits for.
  ours socket  the upstream part of that alone: `proposal` + `buy` on an open
               authenticated DerivClient.
  naive        a connect-authorize-buy per trade: a fresh OTP from REST (the
               New API's authorize), a new socket, `proposal` + `buy`, close.

Figures: p50 and p99 in milliseconds, and the ratios naive/ours. The naive
way also spends one REST call per trade, and Deriv allows 60 a minute per
token (API.md §7.1): the fake's REST limit is lifted here so the naive side
can be timed at all. On localhost the fake answers in microseconds; --rtt-ms
makes it answer each OTP, proposal and buy that much later, a stand-in for
the network (the naive side's TCP, TLS and WebSocket handshakes are not
delayed, so it is still flattered).
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


def _configure(database: str, fake: FakeDeriv) -> None:
    ws_public = fake.ws_public_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "nexus.settings"
    os.environ["DEBUG"] = "on"
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    # Pushes go to an in-memory channel layer in this process, worker tasks are
    # queued in the throwaway database: nothing leaves this machine.
    os.environ["REDIS_URL"] = ""
    os.environ["Q_SYNC"] = "off"
    os.environ["DERIV_ENABLED"] = "on"
    os.environ["DERIV_WS_PUBLIC"] = ws_public
    os.environ["DERIV_REST_BASE"] = fake.rest_base
    os.environ["DERIV_AUTH_URL"] = fake.auth_base
    os.environ["DERIV_CLIENT_ID"] = fake.client_id
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def run_purchases(fake: FakeDeriv, args) -> dict[str, list[float]]:
    """Time N purchases each way, in turn; returns milliseconds per way."""
    from decimal import Decimal

    from channels.layers import channel_layers
    from django.conf import settings
    from django.db import connection

    from apps.accounts.models import AccountType, TradingAccount
    from apps.deriv import adapter, crypto, services
    from apps.deriv.client import DerivClient
    from apps.deriv.feed import DerivFeed
    from apps.deriv.manager import DerivConnections
    from apps.deriv.rest import DerivRest
    from apps.trading.models import Status
    from apps.trading.services import contract_buy
    from apps.users.models import User
    from nexus.settings import redis_channel_layers
    from tests.support.redis import embedded_redis_server

    fake.rest_rate_limit = 1_000_000  # see the docstring: Deriv allows 60 a minute
    token = fake.issue_token()
    user = User.objects.create_user("bench.deriv@example.com", "bench-only-passphrase")
    services.deriv_link_store(user=user, access_token_encrypted=crypto.encrypt(token), scope="trade account_manage")
    services.deriv_accounts_sync(user=user, source="bench")
    account = TradingAccount.objects.select_related("ledger_account").get(user=user, type=AccountType.DERIV_DEMO)
    rest = DerivRest(token, base_url=fake.rest_base)
    request = adapter.proposal_request(
        symbol="R_10", direction="RISE", stake=Decimal("1"), duration=5, duration_unit="t", currency="USD"
    )

    def upstream(client: DerivClient) -> None:
        quote = adapter.parse_proposal(client.call(request))
        adapter.parse_buy(client.call(adapter.buy_request(quote.id, quote.ask_price, subscribe=False)))

    def naive() -> None:
        client = DerivClient(rest.otp_url(account.external_id), name="naive", ping_interval=None, reconnect=False)
        client.connect()
        try:
            upstream(client)
        finally:
            client.close()

    times: dict[str, list[float]] = {"ours": [], "ours_socket": [], "naive": []}
    with embedded_redis_server() as redis:
        settings.CHANNEL_LAYERS = redis_channel_layers(redis.url)
        channel_layers.backends.clear()
        stop = threading.Event()
        feed, manager = DerivFeed(), DerivConnections()

        def run(target):
            try:
                target(should_stop=stop.is_set)
            finally:
                connection.close()

        targets = (feed.run_forever, manager.run_forever)
        threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
        for thread in threads:
            thread.start()
        wait_until(lambda: account.pk in manager.sessions and manager.sessions[account.pk].connected, 30, "the socket")
        from apps.markets.models import Market

        wait_until(lambda: Market.objects.get(symbol="R_10").is_fresh, 30, "fresh R_10 prices")
        socket = DerivClient(url_provider=lambda: rest.otp_url(account.external_id), name="ours-socket").connect()
        try:
            from apps.deriv import gateway

            gateway.ping()  # steady state: this process's reply channel exists, as in a web process that served once
            rtt = args.rtt_ms / 1000

            def network(*calls):  # the fake answers these calls `rtt` late, once each
                for call in calls if rtt else ():
                    fake.delay_next(call, rtt)

            for i in range(args.purchases):
                network("proposal", "buy")
                started = time.perf_counter()
                contract = contract_buy(
                    user=user,
                    account=account,
                    market=Market.objects.get(symbol="R_10"),
                    direction="RISE",
                    stake=Decimal("1.00"),
                    duration=5,
                    duration_unit="t",
                    idempotency_key=f"bench-{i}",
                )
                times["ours"].append((time.perf_counter() - started) * 1000)
                if contract.status == Status.REFUSED:
                    raise SystemExit(f"purchase {i} was refused: {contract.deriv_note}")
                time.sleep(args.spacing)
                network("proposal", "buy")
                started = time.perf_counter()
                upstream(socket)
                times["ours_socket"].append((time.perf_counter() - started) * 1000)
                time.sleep(args.spacing)
                network("otp", "proposal", "buy")
                started = time.perf_counter()
                naive()
                times["naive"].append((time.perf_counter() - started) * 1000)
                time.sleep(args.spacing)
        finally:
            socket.close()
            stop.set()
            for thread in threads:
                thread.join(15)
            gateway.close()
            channel_layers.backends.clear()
    return times


def report_purchases(times: dict[str, list[float]], args) -> dict:
    figures = {way: (percentile(ms, 50), percentile(ms, 99)) for way, ms in times.items()}
    print(
        f"\npurchase latency, {args.purchases} purchases each way (5-tick Rise on R_10, stake 1),"
        f" {args.rtt_ms:g} ms added per answer, ms:"
    )
    print(f"{'':32} {'p50':>8} {'p99':>8}")
    names = {
        "ours": "ours (contract_buy -> manager)",
        "ours_socket": "ours, upstream only (open socket)",
        "naive": "naive (OTP + connect + buy)",
    }
    for way, (p50, p99) in figures.items():
        print(f"{names[way]:32} {p50:>8.1f} {p99:>8.1f}")
    naive50, naive99 = figures["naive"]
    summary = {
        "purchases": args.purchases,
        "purchase_added_rtt_ms": args.rtt_ms,
        "purchase_ours_p50_ms": round(figures["ours"][0], 2),
        "purchase_ours_p99_ms": round(figures["ours"][1], 2),
        "purchase_ours_socket_p50_ms": round(figures["ours_socket"][0], 2),
        "purchase_ours_socket_p99_ms": round(figures["ours_socket"][1], 2),
        "purchase_naive_p50_ms": round(naive50, 2),
        "purchase_naive_p99_ms": round(naive99, 2),
        "ratio_purchase_p50_naive_over_ours": ratio(naive50, figures["ours"][0]),
        "ratio_purchase_p99_naive_over_ours": ratio(naive99, figures["ours"][1]),
        "ratio_purchase_p50_naive_over_ours_socket": ratio(naive50, figures["ours_socket"][0]),
    }
    print(
        f"naive/ours: p50 x{summary['ratio_purchase_p50_naive_over_ours']}, "
        f"p99 x{summary['ratio_purchase_p99_naive_over_ours']}; "
        f"naive/open socket p50 x{summary['ratio_purchase_p50_naive_over_ours_socket']}"
    )
    return summary


def ratio(naive: float, ours: float) -> float | None:
    return round(naive / ours, 1) if ours else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="10,100,1000", help="numbers of viewers, comma-separated")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of steady state measured per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the streams start, not measured")
    parser.add_argument("--ping", type=float, default=30.0, help="keep-alive ping interval (Deriv's: 30 s)")
    parser.add_argument("--purchases", type=int, default=100, help="purchases timed per way (0: skip)")
    parser.add_argument("--spacing", type=float, default=0.05, help="seconds between two purchases")
    parser.add_argument(
        "--rtt-ms", type=float, default=0.0, help="network round trip added to each OTP, proposal and buy answer"
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.users.split(",")]

    fake = FakeDeriv(frozen=False, clock_start=None, speed=1.0, history_seconds=300).start()
    results = {}
    with tempfile.TemporaryDirectory(prefix="nexus-bench-deriv-") as directory:
        _configure(str(Path(directory) / "bench.sqlite3"), fake)
        print(f"fake Deriv at real speed; {MARKETS} markets; window {args.window:.0f}s; ping every {args.ping:.0f}s")
        for users in sizes:
            ours = run_ours(fake, users, args)
            naive = run_naive(fake, users, args)
            results[users] = (ours, naive)
            print(f"  {users} users done")
        purchases = run_purchases(fake, args) if args.purchases else None
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
    if purchases:
        summary |= report_purchases(purchases, args)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
