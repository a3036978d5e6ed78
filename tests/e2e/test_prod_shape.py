"""`scripts/run --prod`: the production shape starts, serves a trader through haproxy, settles, and stops cleanly."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import websocket

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def shape(tmp_path):
    port = free_port()
    log_path = tmp_path / "run.log"
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(PORT=str(port), DJANGO_SETTINGS_MODULE="nexus.settings")
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run"), "--prod"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log() -> str:
        return log_path.read_text(errors="replace")

    try:
        # "Ctrl-C stops …" is the last line the start prints.
        wait_for(lambda: "Ctrl-C stops" in log() or process.poll() is not None, 300, "the platform")
        assert process.poll() is None, log()[-4000:]
        yield port, process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_production_shape_serves_a_trader_through_haproxy_and_stops_cleanly(shape):
    port, process, log = shape
    base = f"http://127.0.0.1:{port}"
    text = log()
    web_ports = re.search(r"web1, web2 \(daphne on (\d+) (\d+)\)", text).groups()
    pg_dir = re.search(r"PostgreSQL \S+ on 127\.0\.0\.1:\d+ \(data in (\S+)\)", text)[1]
    email, password = re.search(r"Demo trader: (\S+)\s+password: (\S+)", text).groups()
    assert "redis-server on 127.0.0.1" in text

    # Both daphnes answer on their own ports; the public port is haproxy's.
    for web_port in web_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health/", timeout=5) as response:
            assert response.status == 200
    ready = wait_for(lambda: _ready(base), 60, "every readiness check")
    assert ready["status"] == "ok", ready

    # A trader signs in through the balancer (DEBUG is off: the real settings).
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = browser.open(f"{base}/accounts/login/", timeout=10).read().decode()
    assert "DEBUG" not in page
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    form = urllib.parse.urlencode({"login": email, "password": password, "csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{base}/accounts/login/", data=form, headers={"Referer": f"{base}/"})
    with browser.open(request, timeout=10) as response:
        assert urllib.parse.urlparse(response.url).path == "/"
    cookies = {cookie.name: cookie.value for cookie in jar}

    # Ticks from the feed reach the trader's socket through Redis, a daphne and haproxy.
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/ws/live/?parts=quote&market=OTC_EUR_USD",
        cookie=f"sessionid={cookies['sessionid']}",
        origin=base,
        timeout=15,
    )
    try:
        seqs = set()
        deadline = time.monotonic() + 20
        while len(seqs) < 2 and time.monotonic() < deadline:
            seqs.update(re.findall(r'data-seq="(\d+)"', ws.recv()))
        assert len(seqs) >= 2, "fewer than two ticks pushed in 20 s"
    finally:
        ws.close()

    # A purchase, settled by the workers a few ticks later.
    trade = browser.open(f"{base}/trade/?market=OTC_EUR_USD", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', trade)[1]
    order = {
        "market": "OTC_EUR_USD",
        "direction": "RISE",
        "stake": "1.00",
        "duration": "1",
        "duration_unit": "t",
        "idempotency_key": os.urandom(16).hex(),
        "csrfmiddlewaretoken": token,
    }
    request = urllib.request.Request(
        f"{base}/trade/buy/", data=urllib.parse.urlencode(order).encode(), headers={"Referer": f"{base}/"}
    )
    browser.open(request, timeout=10).read()

    def settled():
        history = browser.open(f"{base}/trade/history/", timeout=10).read().decode()
        return re.search(r'data-status="(WON|LOST|TIE)"', history)

    wait_for(settled, 60, "the contract's settlement")

    # Ctrl-C stops every process and removes the throwaway PostgreSQL.
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(60) == 0, log()[-3000:]
    assert "[run] stopped" in log()
    assert not Path(pg_dir).exists()
    for web_port in web_ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(web_port)), timeout=1).close()


def _ready(base: str):
    import json

    try:
        with urllib.request.urlopen(f"{base}/ready/", timeout=5) as response:
            body = json.loads(response.read())
    except OSError:
        return None
    return body if body.get("status") == "ok" else None
