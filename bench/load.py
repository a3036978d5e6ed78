"""Load test of the production shape: Locust's simulated traders against `scripts/run --prod`.

    .venv/bin/python bench/load.py [--steps 25,50,100,200,400,800] [--window 40] [--bots 0.1]

It starts the production shape itself (`scripts/run --prod` on a free port:
a throwaway PostgreSQL, Debian's redis-server, two daphnes behind haproxy,
two task workers, the backtests worker and the feed), prepares as many
traders as the largest step (each verified, with a 10,000 USD demo account
and a signed-in session; every tenth also signs in through the login form),
then runs Locust headless in this process, step by step:

  traders   each opens the dashboard and the trade page of one OTC market with
            the page's WebSocket, then every 20-40 s buys a 5-tick Rise or
            Fall through the page's htmx form, and now and then opens history
            and one of their contracts, or the dashboard
  watchers  --bots of them start one bot (scalping, trading every few ticks)
            with the bot page's Start button and watch its page and socket

Per step (after every simulated trader is spawned, over --window seconds):
HTTP p50/p95/p99 and errors per endpoint and over all; tick delivery over the
sockets (receive time minus the tick's `data-ms`, p50/p99) and lost ticks
(`data-seq` gaps per socket) and dropped sockets; contracts bought per second
and the settlement lag p99 (the exit tick's time to `settled_at`), read from
the database; CPU per process as % of one core (both daphnes, haproxy, each
worker cluster, the feed, PostgreSQL, Redis, and this load generator, which
shares the machine). A step holds when HTTP p95 <= --p95-ms with no HTTP
error, no lost tick and no dropped socket; the ramp stops at the first step
that does not. After the run, `manage.py ledger_check` must pass.

One client IP stands for every trader here, so allauth's per-IP sign-in
limits are off for the run (ACCOUNT_RATE_LIMITS_ENABLED=off); the per-user
limits stay. Nothing asserts on time. The last line printed is one JSON
object with every figure.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "load-test-password-1"
QUOTE = re.compile(r'data-seq="(\d+)"[^>]*?data-ms="(\d+)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CONTRACT_LINK = re.compile(r'href="(/trade/contracts/\d+/)"')


def log(message: str) -> None:
    print(f"[load] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


# --- Database roles (run as subprocesses, with the shape's DATABASE_URL) ----------------------


def prepare_main(count: int, bot_share: float) -> None:
    """Traders with sessions, demo accounts and (for watchers) a stopped bot; prints them as JSON."""
    from decimal import Decimal

    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.services import account_open_demo
    from apps.bots.engine.config import DecisionConfig
    from apps.bots.services import bot_create
    from apps.markets.models import Market

    User = get_user_model()
    hashed = make_password(PASSWORD)  # one hash for all: hashing is the login's cost, not the setup's
    symbols = list(Market.objects.filter(is_active=True, symbol__startswith="OTC_").values_list("symbol", flat=True))
    busy = DecisionConfig({"scalping": {"ticks": 2, "min_streak": 1, "lookback": 5}}, 1, Decimal("0"))
    watchers = int(count * bot_share)
    people = []
    for i in range(count):
        email = f"trader{i:05d}@load.example"
        user = User.objects.create(email=email, password=hashed, is_active=True)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        account = account_open_demo(user=user)
        market = symbols[i % len(symbols)]
        session = SessionStore()
        session.update(
            {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                HASH_SESSION_KEY: user.get_session_auth_hash(),
            }
        )
        session.create()
        person = {"email": email, "session": session.session_key, "market": market, "bot": None}
        # Watchers spread evenly over the list, so every step has its share.
        if bot_share and i % max(1, round(count / max(1, watchers))) == 0:
            bot = bot_create(
                user=user,
                decision=busy,
                settings={
                    "name": "Load scalper",
                    "account": account,
                    "market": Market.objects.get(symbol=market),
                    "blocked_regimes": [],
                    "duration": 5,
                    "duration_unit": "t",
                },
            )
            person["bot"] = bot.pk
        people.append(person)
    print(json.dumps(people))


def query_main(since: float, until: float) -> None:
    """Contracts bought and settled in [since, until): count, and settlement lag percentiles."""
    from datetime import UTC, datetime

    import django

    django.setup()
    from apps.trading.models import Contract

    start, end = (datetime.fromtimestamp(t, tz=UTC) for t in (since, until))
    bought = Contract.objects.filter(purchased_at__gte=start, purchased_at__lt=end).count()
    lags = [
        (settled - exit_time).total_seconds() * 1000
        for exit_time, settled in Contract.objects.filter(
            exit_time__gte=start, exit_time__lt=end, settled_at__isnull=False
        ).values_list("exit_time", "settled_at")
    ]
    unsettled = Contract.objects.filter(exit_time__gte=start, exit_time__lt=end, settled_at__isnull=True).count()
    print(
        json.dumps(
            {
                "bought": bought,
                "settled": len(lags),
                "unsettled": unsettled,
                "lag_p50_ms": percentile(lags, 0.5),
                "lag_p99_ms": percentile(lags, 0.99),
            }
        )
    )


# --- The shape -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shape:
    """`scripts/run --prod` on a free port, its processes and its database URL."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "shape.log"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "SECRET_KEY": os.urandom(32).hex(),
            "ACCOUNT_RATE_LIMITS_ENABLED": "off",
            "LOG_LEVEL": "WARNING",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "DEBUG"):
            self.env.pop(name, None)
        log(f"starting scripts/run --prod on port {self.port} (log: {self.log_path})")
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "run"), "--prod"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        text = ""
        while "Ctrl-C stops" not in text:  # the last line the start prints
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the production shape did not start:\n" + text[-3000:])
            time.sleep(1)
            text = self.log_path.read_text(errors="replace")
        pg = re.search(r"PostgreSQL \S+ on 127\.0\.0\.1:(\d+) \(data in (\S+)\)", text)
        self.database_url = f"postgres://nexuspg@127.0.0.1:{pg[1]}/postgres"
        self.pg_data = pg[2]
        self.env["DATABASE_URL"] = self.database_url

    def manage(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )

    def role(self, *argv: str):
        done = self.manage(__file__, *argv)
        if done.returncode:
            raise RuntimeError(f"{argv[:2]} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def processes(self) -> dict:
        """Name -> psutil processes (each with its children): what the CPU figures add up."""
        import psutil

        groups: dict[str, list] = {}
        web = 0
        for child in psutil.Process(self.process.pid).children():
            try:
                cmd = " ".join(child.cmdline())
                environ = child.environ()
            except psutil.Error:
                continue
            if "daphne" in cmd:
                web += 1
                name = f"web{web}"
            elif "haproxy" in cmd:
                name = "haproxy"
            elif "redis-server" in cmd:
                name = "redis"
            elif "runfeed" in cmd:
                name = "feed"
            elif "run_deriv" in cmd:
                name = "deriv"
            elif "qcluster" in cmd:
                name = "backtests" if environ.get("Q_CLUSTER_NAME") == "backtests" else "worker"
            else:
                name = "other"
            groups.setdefault(name, []).append(child)
        workers = groups.pop("worker", [])
        for i, child in enumerate(workers, 1):
            groups[f"worker{i}"] = [child]
        for proc in psutil.process_iter(["cmdline"]):
            if proc.info["cmdline"] and self.pg_data in " ".join(proc.info["cmdline"]):
                groups["postgresql"] = [proc]
        groups["load generator"] = [psutil.Process()]
        return groups

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class CPU:
    """CPU seconds per named group of processes (children included) between two readings."""

    def __init__(self, groups: dict):
        self.groups = groups

    def read(self) -> dict:
        import psutil

        totals = {}
        for name, procs in self.groups.items():
            seconds = 0.0
            for proc in procs:
                family = [proc] if name == "load generator" else [proc, *self._children(proc)]
                for member in family:
                    try:
                        times = member.cpu_times()
                    except psutil.Error:
                        continue
                    seconds += times.user + times.system
            totals[name] = seconds
        totals["machine"] = sum(psutil.cpu_times()[:3])  # user, nice, system of all cores
        return totals

    @staticmethod
    def _children(proc):
        import psutil

        try:
            return proc.children(recursive=True)
        except psutil.Error:
            return []


# --- Locust ----------------------------------------------------------------------------------


def run_load(args, shape: Shape, people: list[dict]) -> dict:
    import gevent
    import websocket
    from locust import HttpUser, between, events, task
    from locust.env import Environment

    ws_url = shape.url.replace("http://", "ws://")
    sockets = {"latencies": [], "lost": 0, "dropped": 0, "messages": 0, "open": 0}
    pool = list(reversed(people))  # a stopped trader's seat goes back to the pool

    class Trader(HttpUser):
        host = shape.url
        wait_time = between(20, 40)

        def on_start(self):
            self.person = pool.pop()
            self.index = int(self.person["email"][6:11])
            if self.index % 10 == 0:
                self.sign_in()
            else:
                self.client.cookies.set("sessionid", self.person["session"])
            self.client.get("/", name="GET / (dashboard)")
            if self.person["bot"]:
                bot = f"/bots/{self.person['bot']}/"
                page = self.client.get(bot, name="GET /bots/<id>/").text
                self.post(f"{bot}start/", page, name="POST /bots/<id>/start/")
                parts = f"balance,bell,toasts,bots.kill,bots.{self.person['bot']}"
            else:
                page = self.client.get(f"/trade/?market={self.person['market']}", name="GET /trade/").text
                parts = f"balance,bell,toasts,positions,quote&market={self.person['market']}"
            self.page = page
            self.socket = gevent.spawn(self.listen, f"{ws_url}/ws/live/?parts={parts}")

        def sign_in(self):
            page = self.client.get("/accounts/login/", name="GET /accounts/login/").text
            self.post(
                "/accounts/login/",
                page,
                name="POST /accounts/login/",
                data={"login": self.person["email"], "password": PASSWORD},
                htmx=False,
            )

        def post(self, path, page, *, name, data=None, htmx=True, expect=None):
            token = CSRF_INPUT.search(page)
            headers = {"Referer": shape.url + "/", "X-CSRFToken": self.client.cookies.get("csrftoken", "")}
            if htmx:
                headers["HX-Request"] = "true"
            body = dict(data or {})
            if token:
                body["csrfmiddlewaretoken"] = token[1]
            with self.client.post(path, data=body, headers=headers, name=name, catch_response=True) as response:
                if response.status_code >= 400:
                    response.failure(f"HTTP {response.status_code}")
                elif expect and expect not in response.text:
                    response.failure(f"no {expect!r} in the answer")
                return response

        def listen(self, url):
            cookie = f"sessionid={self.client.cookies.get('sessionid')}"
            try:
                ws = websocket.create_connection(url, cookie=cookie, origin=shape.url, timeout=30)
            except Exception as error:
                events.request.fire(
                    request_type="WS", name="connect", response_time=0, response_length=0, exception=error
                )
                return
            sockets["open"] += 1
            last_seq = None
            try:
                while True:
                    message = ws.recv()
                    now = time.time()
                    sockets["messages"] += 1
                    for seq, tick_ms in QUOTE.findall(message):
                        seq = int(seq)
                        sockets["latencies"].append(now * 1000 - int(tick_ms))
                        if last_seq is not None and seq > last_seq + 1:
                            sockets["lost"] += seq - last_seq - 1
                        last_seq = max(seq, last_seq or 0)
            except gevent.GreenletExit:
                ws.close()
            except Exception:
                sockets["dropped"] += 1
            finally:
                sockets["open"] -= 1

        def on_stop(self):
            self.socket.kill()
            pool.append(self.person)

        @task
        def trade(self):
            if self.person["bot"]:
                self.client.get(f"/bots/{self.person['bot']}/", name="GET /bots/<id>/")
                return
            self.post(
                "/trade/buy/",
                self.page,
                name="POST /trade/buy/",
                data={
                    "market": self.person["market"],
                    "direction": "RISE" if self.index % 2 else "FALL",
                    "stake": "1.00",
                    "duration": "5",
                    "duration_unit": "t",
                    "idempotency_key": os.urandom(16).hex(),
                },
                expect="Bought ",
            )
            roll = random.random()
            if roll < 0.3:
                history = self.client.get("/trade/history/", name="GET /trade/history/").text
                link = CONTRACT_LINK.search(history)
                if link:
                    self.client.get(link[1], name="GET /trade/contracts/<id>/")
            elif roll < 0.5:
                self.client.get("/", name="GET / (dashboard)")

    env = Environment(user_classes=[Trader], events=events)
    runner = env.create_local_runner()
    groups = shape.processes()
    cpu = CPU(groups)

    def measure(size: int) -> dict:
        log(f"step {size} traders: spawning")
        runner.start(size, spawn_rate=args.spawn_rate)
        while runner.user_count != size:
            gevent.sleep(0.5)
        gevent.sleep(args.settle)
        env.stats.reset_all()
        sockets.update(latencies=[], lost=0, dropped=0, messages=0)
        before, t0 = cpu.read(), time.time()
        gevent.sleep(args.window)
        after, t1 = cpu.read(), time.time()
        wall = t1 - t0
        endpoints = {}
        for entry in env.stats.entries.values():
            if not entry.num_requests:
                continue
            endpoints[entry.name] = {
                "requests": entry.num_requests,
                "errors": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.5),
                "p95_ms": entry.get_response_time_percentile(0.95),
                "p99_ms": entry.get_response_time_percentile(0.99),
            }
        total = env.stats.total
        errors = total.num_failures
        latencies = list(sockets["latencies"])
        gevent.sleep(args.drain)  # contracts whose exit tick fell in the window get settled
        db = shape.role("--role", "query", "--since", str(t0), "--until", str(t1))
        machine = after.pop("machine") - before.pop("machine")
        step = {
            "traders": size,
            "requests": total.num_requests,
            "errors": errors,
            "http_p50_ms": total.get_response_time_percentile(0.5),
            "http_p95_ms": total.get_response_time_percentile(0.95),
            "http_p99_ms": total.get_response_time_percentile(0.99),
            "endpoints": endpoints,
            "sockets_open": sockets["open"],
            "tick_p50_ms": percentile(latencies, 0.5),
            "tick_p99_ms": percentile(latencies, 0.99),
            "ticks_delivered": len(latencies),
            "ticks_lost": sockets["lost"],
            "sockets_dropped": sockets["dropped"],
            "contracts_per_s": round(db["bought"] / wall, 2),
            "settled": db["settled"],
            "unsettled": db["unsettled"],
            "settlement_lag_p50_ms": db["lag_p50_ms"],
            "settlement_lag_p99_ms": db["lag_p99_ms"],
            "cpu_pct": {name: round(100 * (after[name] - before[name]) / wall, 1) for name in after},
            "machine_cpu_pct": round(100 * machine / wall, 1),
        }
        step["holds"] = bool(
            step["http_p95_ms"] is not None
            and step["http_p95_ms"] <= args.p95_ms
            and not errors
            and not step["ticks_lost"]
            and not step["sockets_dropped"]
        )
        print_step(step)
        return step

    # The ramp, up to the first step that does not hold; then --refine halvings between the
    # largest size that held and the smallest that did not.
    steps = []
    for size in args.steps:
        steps.append(measure(size))
        if not steps[-1]["holds"]:
            break
    held = max((step["traders"] for step in steps if step["holds"]), default=0)
    failed = min((step["traders"] for step in steps if not step["holds"]), default=None)
    for _ in range(args.refine if failed else 0):
        size = (held + failed) // 2
        if size in (held, failed):
            break
        steps.append(measure(size))
        if steps[-1]["holds"]:
            held = size
        else:
            failed = size
    runner.quit()
    return {"steps": steps}


def print_step(step: dict) -> None:
    print(
        f"\n{step['traders']} traders: HTTP p50/p95/p99 {step['http_p50_ms']}/{step['http_p95_ms']}/"
        f"{step['http_p99_ms']} ms, {step['requests']} requests, {step['errors']} errors; "
        f"ticks p50/p99 {step['tick_p50_ms']}/{step['tick_p99_ms']} ms, {step['ticks_delivered']} delivered, "
        f"{step['ticks_lost']} lost, {step['sockets_dropped']} sockets dropped of {step['sockets_open']}; "
        f"{step['contracts_per_s']} contracts/s, settlement lag p50/p99 {step['settlement_lag_p50_ms']}/"
        f"{step['settlement_lag_p99_ms']} ms ({step['unsettled']} unsettled) -> "
        f"{'holds' if step['holds'] else 'does NOT hold'}"
    )
    print(f"  {'endpoint':34} {'req':>6} {'err':>4} {'p50':>6} {'p95':>6} {'p99':>6}")
    for name, figures in sorted(step["endpoints"].items()):
        print(
            f"  {name:34} {figures['requests']:>6} {figures['errors']:>4} {figures['p50_ms'] or 0:>6.0f} "
            f"{figures['p95_ms'] or 0:>6.0f} {figures['p99_ms'] or 0:>6.0f}"
        )
    cpu = ", ".join(f"{name} {pct}%" for name, pct in step["cpu_pct"].items())
    print(f"  CPU (% of one core): {cpu}; whole machine {step['machine_cpu_pct']}% of {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["load", "prepare", "query"], default="load")
    parser.add_argument("--steps", default="25,50,100,200,400,800")
    parser.add_argument("--window", type=float, default=40, help="seconds measured per step")
    parser.add_argument("--settle", type=float, default=10, help="seconds between spawning and measuring")
    parser.add_argument("--drain", type=float, default=10, help="seconds to wait for the window's settlements")
    parser.add_argument("--spawn-rate", type=float, default=10, help="simulated traders started per second")
    parser.add_argument("--bots", type=float, default=0.1, help="share of traders who run and watch a bot")
    parser.add_argument("--p95-ms", type=float, default=100)
    parser.add_argument("--refine", type=int, default=2, help="halvings after the first step that does not hold")
    parser.add_argument("--count", type=int)
    parser.add_argument("--since", type=float)
    parser.add_argument("--until", type=float)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus.settings")
    if args.role == "prepare":
        return prepare_main(args.count, args.bots)
    if args.role == "query":
        return query_main(args.since, args.until)

    from gevent import monkey

    monkey.patch_all()
    args.steps = [int(size) for size in args.steps.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="nexus-load."))
    shape = Shape(workdir)
    try:
        log(f"preparing {max(args.steps)} traders")
        started = time.monotonic()
        people = shape.role("--role", "prepare", "--count", str(max(args.steps)), "--bots", str(args.bots))
        log(f"prepared in {time.monotonic() - started:.0f} s")
        result = run_load(args, shape, people)
        ledger = shape.manage("manage.py", "ledger_check")
        result["ledger_check"] = "ok" if ledger.returncode == 0 else (ledger.stdout + ledger.stderr)[-2000:]
    finally:
        shape.stop()
    held = [step["traders"] for step in result["steps"] if step["holds"]]
    figures = {
        "max_traders_p95_under_100ms": max(held) if held else 0,
        "ledger_check": result["ledger_check"],
        "cpu_cores": os.cpu_count(),
    }
    for step in result["steps"]:
        n = step["traders"]
        for key in ("http_p50_ms", "http_p95_ms", "http_p99_ms", "errors", "tick_p99_ms", "ticks_lost"):
            figures[f"{key}_at_{n}"] = step[key]
        figures[f"sockets_dropped_at_{n}"] = step["sockets_dropped"]
        figures[f"contracts_per_s_at_{n}"] = step["contracts_per_s"]
        figures[f"settlement_lag_p99_ms_at_{n}"] = step["settlement_lag_p99_ms"]
        for name, pct in step["cpu_pct"].items():
            figures[f"cpu_pct_{name.replace(' ', '_')}_at_{n}"] = pct
        for name, endpoint in step["endpoints"].items():
            slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
            figures[f"{slug}_p95_ms_at_{n}"] = endpoint["p95_ms"]
            figures[f"{slug}_errors_at_{n}"] = endpoint["errors"]
    print(
        f"\nLargest number of simulated traders held at p95 < {args.p95_ms:.0f} ms with no error: "
        f"{figures['max_traders_p95_under_100ms']}; ledger_check: {result['ledger_check']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
