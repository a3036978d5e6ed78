"""Run the fake Binance spot API on its own: `python -m tests.fakes.exchange --port 8765`.

The market clock follows real time. Prints the base URL and a demo API key and secret holding
10,000 USDT, then serves until Ctrl-C.
"""

import argparse
import secrets
import signal
import threading

from .server import FakeExchange


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.exchange", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-key", default=None, help="the demo key (default: a random one)")
    parser.add_argument("--secret", default=None, help="the demo key's secret (default: a random one)")
    parser.add_argument("--usdt", default="10000", help="the demo account's USDT")
    args = parser.parse_args(argv)
    fake = FakeExchange(host=args.host, port=args.port, seed=args.seed, clock_start=None, frozen=False).start()
    api_key = args.api_key or secrets.token_hex(32)
    secret = args.secret or secrets.token_hex(32)
    fake.add_key(api_key, secret, balances={"USDT": args.usdt})
    print("Fake Binance (spot) is running (Ctrl-C to stop)")
    print(f"  base URL: {fake.url}   (ccxt: ccxt.binance(tests.fakes.exchange.ccxt_config(url, key, secret)))")
    print(f"  demo API key: {api_key}")
    print(f"  demo secret:  {secret}   ({args.usdt} USDT, spot trading on, withdrawals off)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    fake.stop()


if __name__ == "__main__":
    main()
