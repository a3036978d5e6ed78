"""Run the fake Deriv on its own: `python -m tests.fakes.deriv --port 8765`.

Prints the URLs to point DERIV_AUTH_URL / DERIV_REST_BASE / DERIV_WS_PUBLIC at,
plus a ready-made access token and OTP URL, then serves until Ctrl-C.
The clock follows real time (ticks every 1 or 2 s), unlike in tests.
"""

import argparse
import signal
import threading

from .server import FakeDeriv


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.deriv", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (OAuth + REST); WebSockets use port+1")
    parser.add_argument("--ws-port", type=int, default=None)
    parser.add_argument("--client-id", default="nexus-test-app")
    parser.add_argument("--redirect-uri", action="append", help="registered redirect URI (default: any)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed factor")
    parser.add_argument("--history-seconds", type=int, default=3600, help="tick history generated at start")
    args = parser.parse_args(argv)

    fake = FakeDeriv(
        host=args.host,
        http_port=args.port,
        ws_port=args.ws_port if args.ws_port is not None else args.port + 1,
        seed=args.seed,
        clock_start=None,
        frozen=False,
        speed=args.speed,
        client_id=args.client_id,
        redirect_uris=args.redirect_uri,
        history_seconds=args.history_seconds,
    ).start()
    token = fake.issue_token()
    print("Fake Deriv is running (Ctrl-C to stop)")
    print(f"  DERIV_AUTH_URL={fake.auth_base}      (/oauth2/auth, /oauth2/token)")
    print(f"  DERIV_REST_BASE={fake.rest_base}")
    print(f"  DERIV_WS_PUBLIC={fake.ws_public_url}")
    print(f"  DERIV_CLIENT_ID={fake.client_id}")
    print(f"  accounts of {fake.default_user}: {', '.join(a['account_id'] for a in fake.user_accounts())}")
    print(f"  a test access token (scopes trade, account_manage): {token}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    fake.stop()


if __name__ == "__main__":
    main()
