"""Exchanges benchmark: 1,000 spot bots on 10 pairs, one market-data poll per pair, one decision fanned out.

    .venv/bin/python bench/exchanges.py [--bots 1000] [--users 200] [--naive-poll-bots 200] [--naive-bots 200]
                                        [--no-fanout-single] [--profile]

Runs on fresh SQLite databases in a temporary directory (see bench/settlement.py),
against the fake Binance of tests/fakes/exchange (a real HTTP server on
127.0.0.1, its market clock on the wall clock, Binance's request weights).
Each database gets the same setup: the fake's ten pairs (`markets_load`),
--users traders with their paper connection (`paper_connection`, 10,000 USDT
each) and --bots RUNNING spot bots spread evenly over the ten pairs, all with
one strategy configuration (momentum, breakout and scalping, one agreeing
vote at 0.10 confidence), so each pair's decision is computed once. Every
trader is on the Enterprise plan (BILLING["DEFAULT_PLAN"]), whose limits on
open positions and trades a day never refuse a bot here.

Market data (upstream klines calls counted by the fake):

  shared  the warm-up (each pair's first `candles_poll`: ~1,000 candles of
          history), then `candles_poll_all()`, the worker's minute: one
          klines call per pair and timeframe in use, whatever the number of
          bots. Run within the warm-up's minute (started in a fresh minute
          if fewer than 20 s of this one are left), so no new candle arrives
          and the time is the polling alone.
  naive   each bot polls its own pair every minute: the same request as
          `candles_poll` (since the last stored candle), sent for the first
          --naive-poll-bots bots through one ccxt client with its rate
          limiter on (`venues.client("binance")`, as production builds it;
          ccxt spaces Binance's klines 20 ms apart, its 6,000 weight a
          minute). Timed, and extrapolated to every bot. The fetch alone: the
          naive side stores nothing.

Calls and Binance request weight per minute (klines weigh 2; Binance allows
6,000 a minute per IP) are printed for both.

Fan-out (the issue's target: under 2 s for 1,000 bots): the pairs get a
steady climb of closed candles (the history a first poll stores), then one
new closed candle each, written as `candles_poll` writes it, its close the
market's last price. Timed from that commit to every bot on it having acted:

  real    `bots_decide(market_id=..., timeframe="1m")` for each of the ten
          pairs (the regime once and the decision once per pair, then each
          bot's exits, sizing and paper order through the ledger); with
          --fanout-single (on by default) also every bot on one pair
  naive   per bot, no sharing: load the bot, read its own window of closes,
          classify the regime and evaluate its configuration on it, then act
          through `cycle.bot_act` (the cycle's one-bot entry) with that
          decision; run for the first --naive-bots bots and scaled to every
          bot for the ratio

Every bot must open one position (the climb says RISE), and
`ledger_breaches()` must be empty after each run; anything else aborts.
Statements sent are counted (an execute wrapper, cheap; DEBUG stays off) and
strategy evaluations too (DecisionConfig.evaluate calls).

With --profile, two more runs of the ten-pair fan-out on fresh databases:
one under cProfile (top 15 by cumulative time, top 10 by own time), one with
every statement timed (the statements that took longest, and the time spent
outside them). Those runs are not part of the figures.

Nothing here asserts on time. The last line printed is one JSON object with
every figure.
"""

import argparse
import cProfile
import inspect
import io
import json
import pstats
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settlement import (  # noqa: E402 - the path above makes the sibling importable
    SqliteDatabases,
    _configure,
    counting_queries,
    fresh_database,
    print_profile,
    profiling_statements,
)

KLINES = "/api/v3/klines"
KLINES_WEIGHT = 2  # Binance's request weight of GET /api/v3/klines (limit up to 1,000)
WEIGHT_LIMIT = 6000  # Binance's REQUEST_WEIGHT per minute and IP
TARGET_S = 2.0  # the fan-out target for 1,000 bots
RISE_STEP = 0.0004  # a steady climb: 0.04% a minute
CONSENSUS = {
    "strategies": {"momentum": {}, "breakout": {}, "scalping": {}},
    "min_agreeing": 1,
    "min_confidence": Decimal("0.10"),
}


# --- Setup --------------------------------------------------------------------


def build(n_users: int, n_bots: int, *, single_pair: bool = False) -> list:
    """The fake's pairs, `n_users` traders with a paper connection, `n_bots` running bots spread over the pairs."""
    from django.db import transaction

    from apps.exchanges.models import SpotBot, SpotBotStatus
    from apps.exchanges.services.connections import paper_connection
    from apps.exchanges.services.feed import markets_load
    from apps.users.models import User

    markets = markets_load()
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(email=f"spot{i}@bench.example", password="!") for i in range(n_users)], batch_size=2000
        )
        connections = [paper_connection(user=u) for u in users]
        bots = []
        for i in range(n_bots):
            k = i * n_users // n_bots  # a trader's bots are consecutive: on different pairs
            market = markets[0] if single_pair else markets[i % len(markets)]
            bots.append(
                SpotBot(
                    user=users[k],
                    connection=connections[k],
                    market=market,
                    name=f"Bench spot bot {i}",
                    status=SpotBotStatus.RUNNING,
                    **CONSENSUS,
                )
            )
        SpotBot.objects.bulk_create(bots, batch_size=2000)
    return markets[:1] if single_pair else markets


def climb_store(fake, markets, *, history: int) -> dict:
    """`history` closed candles of a steady climb per pair, the last one closed a minute ago (as a first poll
    leaves them); what each pair's next candle will be: {market id: (open time, close)}."""
    from django.db import transaction
    from django.utils import timezone

    from apps.exchanges.models import Candle, SpotMarket

    minute = timezone.now().replace(second=0, microsecond=0)
    first = minute - timedelta(minutes=history + 1)
    following = {}
    rows = []
    with transaction.atomic():
        for market in markets:
            # Ends near the fake's price for the pair, in the pair's price step.
            end = float(fake.price(market.symbol))
            closes = [end / (1 + RISE_STEP) ** (history - i) for i in range(history + 1)]
            prices = [Decimal(repr(c)).quantize(market.price_step) for c in closes]
            for i, price in enumerate(prices[:-1]):
                rows.append(_candle(market, first + timedelta(minutes=i), price))
            following[market.pk] = (minute - timedelta(minutes=1), prices[-1])
            SpotMarket.objects.filter(pk=market.pk).update(
                last_price=prices[-2], polled_at=timezone.now(), poll_error=""
            )
        Candle.objects.bulk_create(rows, batch_size=2000)
    return following


def _candle(market, opened_at, price):
    from apps.exchanges.models import Candle

    return Candle(
        market=market,
        timeframe="1m",
        opened_at=opened_at,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=Decimal("1"),
    )


def candle_close(markets, following: dict) -> None:
    """Each pair's new closed candle, stored with the market's last price as `candles_poll` stores it."""
    from django.db import transaction
    from django.utils import timezone

    from apps.exchanges.models import Candle, SpotMarket

    with transaction.atomic():
        Candle.objects.bulk_create([_candle(m, *following[m.pk]) for m in markets])
        for market in markets:
            SpotMarket.objects.filter(pk=market.pk).update(
                last_price=following[market.pk][1], polled_at=timezone.now(), poll_error=""
            )


class EvaluationCounter:
    """Counts strategy configuration evaluations (DecisionConfig.evaluate calls) while active."""

    def __init__(self):
        from apps.bots.engine.config import DecisionConfig

        self.cls, self.original, self.count = DecisionConfig, DecisionConfig.evaluate, 0

    def __enter__(self):
        counter = self

        def counted(config, prices):
            counter.count += 1
            return counter.original(config, prices)

        self.cls.evaluate = counted
        return self

    def __exit__(self, *exc):
        self.cls.evaluate = self.original


def outcome(what: str, bots: int) -> dict:
    """Positions and filled orders; every bot must have opened one and the books must balance."""
    from apps.exchanges.models import OrderStatus, SpotBot, SpotOrder, SpotPosition

    positions = SpotPosition.objects.filter(status="OPEN").count()
    filled = SpotOrder.objects.filter(status=OrderStatus.FILLED).count()
    if positions != bots:
        skips = list(SpotBot.objects.exclude(last_skip="").values_list("last_skip", flat=True)[:3])
        raise SystemExit(f"{what}: {positions} positions opened for {bots} bots (skips: {skips})")
    books_check(what)
    return {"positions": positions, "orders_filled": filled}


def books_check(what: str) -> None:
    """`ledger_breaches()` must be empty."""
    from apps.ledger.checks import ledger_breaches

    if found := ledger_breaches():
        print(f"\n!!! LEDGER BREACH after {what}:", *found[:20], sep="\n  ", file=sys.stderr)
        raise SystemExit(f"ledger invariants broken after {what}")


# --- Market data --------------------------------------------------------------


def wait_for_a_fresh_minute(margin_s: float = 40.0) -> None:
    """Sleep into the next minute if less than 60 - margin_s seconds of this one are left."""
    second = time.time() % 60
    if second > margin_s:
        time.sleep(60 - second + 0.5)


def poll_shared(fake, markets) -> dict:
    """Each pair's first poll (the history), then one `candles_poll_all()` within the same minute."""
    from apps.exchanges.models import Candle
    from apps.exchanges.services.cycle import candles_poll_all
    from apps.exchanges.services.feed import candles_poll

    wait_for_a_fresh_minute()
    calls = fake.call_count(KLINES)
    started = time.perf_counter()
    stored = sum(candles_poll(market=m, timeframe="1m") for m in markets)
    warm_s = time.perf_counter() - started
    warm_calls = fake.call_count(KLINES) - calls

    calls = fake.call_count(KLINES)
    with counting_queries() as queries:
        started = time.perf_counter()
        result = candles_poll_all()
        poll_s = time.perf_counter() - started
    return {
        "warm_s": warm_s,
        "warm_calls": warm_calls,
        "stored": stored,
        "candles": Candle.objects.count(),
        "poll_s": poll_s,
        "calls": fake.call_count(KLINES) - calls,
        "feeds": result["feeds"],
        "bots_acted": result["bots"],
        "queries": queries["queries"],
    }


def poll_naive(fake, limit: int) -> dict:
    """The first `limit` bots each ask their own pair's new candles, through one rate-limited ccxt client."""
    import ccxt

    from apps.exchanges.models import Candle, SpotBot, SpotBotStatus
    from apps.exchanges.services.feed import HISTORY
    from apps.exchanges.venues import client

    api = client("binance")
    api.load_markets()  # once, outside the timing (exchangeInfo)
    bots = list(SpotBot.objects.filter(status=SpotBotStatus.RUNNING).select_related("market").order_by("id")[:limit])
    calls, failures = fake.call_count(KLINES), 0
    started = time.perf_counter()
    for bot in bots:
        last = Candle.objects.filter(market=bot.market, timeframe=bot.timeframe).order_by("-opened_at").first()
        since = int((last.opened_at + timedelta(minutes=1)).timestamp() * 1000) if last else None
        try:
            api.fetch_ohlcv(bot.market.symbol, bot.timeframe, since, HISTORY)
        except ccxt.BaseError:
            failures += 1
    elapsed = time.perf_counter() - started
    return {"bots": len(bots), "s": elapsed, "calls": fake.call_count(KLINES) - calls, "failures": failures}


# --- Fan-out ------------------------------------------------------------------


def fan_out_real(fake, markets, *, bots: int) -> dict:
    from apps.exchanges.services.cycle import bots_decide
    from apps.exchanges.services.feed import HISTORY

    following = climb_store(fake, markets, history=HISTORY - 1)
    candle_close(markets, following)
    per_pair = []
    with counting_queries() as queries, EvaluationCounter() as evaluations:
        started = time.perf_counter()
        acted = 0
        for market in markets:
            pair_started = time.perf_counter()
            acted += bots_decide(market_id=market.pk, timeframe="1m")
            per_pair.append(time.perf_counter() - pair_started)
        elapsed = time.perf_counter() - started
    return {
        "s": elapsed,
        "acted": acted,
        "queries": queries["queries"],
        "evaluations": evaluations.count,
        "slowest_pair_s": max(per_pair),
    } | outcome("the fan-out", bots)


def fan_out_naive(fake, markets, *, limit: int) -> dict:
    """Per bot, no sharing: its own window of closes, its own regime and decision, then `bot_act`."""
    from apps.bots.engine.regime import REGIME_WINDOW, classify
    from apps.bots.selectors import engaged_switches
    from apps.exchanges.models import SpotBot, SpotBotStatus
    from apps.exchanges.services import cycle
    from apps.exchanges.services.feed import HISTORY, closes, stale_reason

    following = climb_store(fake, markets, history=HISTORY - 1)
    bot_ids = list(
        SpotBot.objects.filter(status=SpotBotStatus.RUNNING).order_by("id").values_list("pk", flat=True)[:limit]
    )
    accepted = inspect.signature(cycle.bot_act).parameters
    candle_close(markets, following)
    with counting_queries() as queries, EvaluationCounter() as evaluations:
        started = time.perf_counter()
        for pk in bot_ids:
            bot = SpotBot.objects.select_related("market", "connection", "user").get(pk=pk)
            config = cycle.decision_config(bot)
            rows = closes(market_id=bot.market_id, timeframe=bot.timeframe, count=max(REGIME_WINDOW, config.window))
            candle_at, price = rows[-1]
            prices = [float(close) for _, close in rows]
            arguments = {
                "bot": bot,
                "decision": config.evaluate(prices),
                "regime": classify(prices),
                "price": price,
                "candle_at": candle_at,
                "stale": stale_reason(market=bot.market, timeframe=bot.timeframe),
            }
            if "engaged" in accepted:  # an earlier bot_act took the kill switches from its caller
                arguments["engaged"] = engaged_switches()
            cycle.bot_act(**arguments)
        elapsed = time.perf_counter() - started
    return {
        "s": elapsed,
        "bots": len(bot_ids),
        "queries": queries["queries"],
        "evaluations": evaluations.count,
    } | outcome("the naive fan-out", len(bot_ids))


PROFILE_TOP = 15


def profile_fan_out(databases, fake, n_users: int, n_bots: int) -> None:
    """The ten-pair fan-out once under cProfile, once with every statement timed (fresh databases)."""
    from apps.exchanges.services.cycle import bots_decide
    from apps.exchanges.services.feed import HISTORY

    with fresh_database(databases, "profile_python"):
        markets = build(n_users, n_bots)
        candle_close(markets, climb_store(fake, markets, history=HISTORY - 1))
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for market in markets:
            bots_decide(market_id=market.pk, timeframe="1m")
        profiler.disable()
        seconds = time.perf_counter() - started
        outcome("the profiled fan-out", n_bots)
    for order, top in (("cumulative", PROFILE_TOP), ("tottime", 10)):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        lines = out.getvalue().strip().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        title = f"{n_bots:,}-bot fan-out under cProfile ({seconds:.2f} s with its overhead)"
        print(f"\nProfile, {title}, top {top} by {order}:")
        print("\n".join(lines[start:]))

    with fresh_database(databases, "profile_statements"):
        markets = build(n_users, n_bots)
        candle_close(markets, climb_store(fake, markets, history=HISTORY - 1))
        with profiling_statements() as spent:
            started = time.perf_counter()
            for market in markets:
                bots_decide(market_id=market.pk, timeframe="1m")
            seconds = time.perf_counter() - started
        outcome("the statement-timed fan-out", n_bots)
    print_profile(f"Statements, {n_bots:,}-bot fan-out", spent, seconds)


# --- Main -----------------------------------------------------------------------


@contextmanager
def fake_binance():
    """The fake Binance on the wall clock, Nexus's settings pointed at it."""
    from django.conf import settings

    from tests.fakes.exchange.fixtures import running_fake_exchange

    with running_fake_exchange(clock_start=None, frozen=False) as fake:
        settings.EXCHANGES = {"binance": {"URL": fake.url, "TIMEOUT_S": 2.0}}
        yield fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--naive-poll-bots", type=int, default=200, help="bots whose own poll is timed")
    parser.add_argument("--naive-bots", type=int, default=200, help="bots the naive fan-out runs")
    parser.add_argument(
        "--fanout-single",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also fan out to every bot on one pair",
    )
    parser.add_argument("--profile", action="store_true", help="profile one more ten-pair fan-out")
    args = parser.parse_args()
    n_bots, n_users = args.bots, min(args.users, args.bots)
    naive_poll_bots, naive_bots = min(args.naive_poll_bots, n_bots), min(args.naive_bots, n_bots)

    with tempfile.TemporaryDirectory(prefix="nexus-bench-exchanges-") as directory:
        databases = SqliteDatabases(directory)
        _configure(f"sqlite:///{directory}/template.sqlite3")
        from django.conf import settings

        # Every trader may hold a position per bot and trade all day: the plan never refuses one here.
        settings.BILLING = {**settings.BILLING, "DEFAULT_PLAN": "enterprise"}
        databases.prepare()
        figures: dict = {"bots": n_bots, "users": n_users}

        with fake_binance() as fake:
            with fresh_database(databases, "feed"):
                markets = build(n_users, n_bots)
                shared = poll_shared(fake, markets)
                naive_poll = poll_naive(fake, naive_poll_bots)
            pairs = len(markets)
            figures["pairs"] = pairs
            per_call = naive_poll["s"] / max(1, naive_poll["bots"])
            naive_all_s = per_call * n_bots
            shared_weight, naive_weight = shared["calls"] * KLINES_WEIGHT, n_bots * KLINES_WEIGHT
            print(
                f"warm-up: {pairs} pairs' first poll: {shared['warm_calls']} klines calls, "
                f"{shared['stored']} candles stored in {shared['warm_s']:.2f} s"
            )
            print(
                f"market data, shared: candles_poll_all() for {n_bots} bots on {shared['feeds']} feeds: "
                f"{shared['calls']} klines calls a minute ({shared_weight} weight of Binance's {WEIGHT_LIMIT}/min), "
                f"{shared['poll_s']:.3f} s, {shared['queries']} queries, {shared['bots_acted']} bots acted"
            )
            print(
                f"market data, naive: a poll per bot, {n_bots} klines calls a minute ({naive_weight} weight, "
                f"{naive_weight / WEIGHT_LIMIT:.0%} of Binance's {WEIGHT_LIMIT}/min); {naive_poll['bots']} timed "
                f"through one rate-limited ccxt client: {naive_poll['s']:.2f} s ({per_call * 1000:.1f} ms a call, "
                f"{naive_poll['failures']} failed), {naive_all_s:.1f} s extrapolated to {n_bots} bots; "
                f"{n_bots / max(1, shared['calls']):.0f}x the calls of the shared poll"
            )
            figures |= {
                "warmup_klines_calls": shared["warm_calls"],
                "warmup_candles_stored": shared["stored"],
                "warmup_s": round(shared["warm_s"], 3),
                "upstream_calls_per_min_shared": shared["calls"],
                "upstream_weight_per_min_shared": shared_weight,
                "poll_all_s": round(shared["poll_s"], 4),
                "poll_all_queries": shared["queries"],
                "upstream_calls_per_min_naive": n_bots,
                "upstream_weight_per_min_naive": naive_weight,
                "binance_weight_limit_per_min": WEIGHT_LIMIT,
                "naive_poll_sample_bots": naive_poll["bots"],
                "naive_poll_sample_calls": naive_poll["calls"],
                "naive_poll_sample_failures": naive_poll["failures"],
                "naive_poll_sample_s": round(naive_poll["s"], 3),
                "naive_poll_ms_per_call": round(per_call * 1000, 2),
                "naive_poll_all_bots_extrapolated_s": round(naive_all_s, 2),
                "poll_calls_ratio_vs_naive": round(n_bots / max(1, shared["calls"]), 1),
                "poll_time_ratio_vs_naive": round(naive_all_s / shared["poll_s"], 1),
            }

            with fresh_database(databases, "fanout"):
                markets = build(n_users, n_bots)
                real = fan_out_real(fake, markets, bots=n_bots)
            print(
                f"fan-out: {n_bots} bots on {pairs} pairs: {real['acted']} acted, {real['positions']} positions "
                f"opened in {real['s']:.3f} s ({n_bots / real['s']:.0f} bots/s, slowest pair "
                f"{real['slowest_pair_s']:.3f} s), {real['evaluations']} strategy evaluations, {real['queries']} "
                f"queries ({real['queries'] / n_bots:.1f} a bot); target {TARGET_S:g} s: "
                f"{'met' if real['s'] < TARGET_S else 'not met'}"
            )
            figures |= {
                f"fanout_{n_bots}_bots_s": round(real["s"], 4),
                "fanout_bots_per_s": round(n_bots / real["s"]),
                "fanout_ms_per_bot": round(real["s"] / n_bots * 1000, 3),
                "fanout_slowest_pair_s": round(real["slowest_pair_s"], 4),
                "fanout_queries": real["queries"],
                "fanout_queries_per_bot": round(real["queries"] / n_bots, 1),
                "fanout_strategy_evaluations": real["evaluations"],
                "fanout_positions_opened": real["positions"],
                "fanout_target_s": TARGET_S,
            }

            if args.fanout_single:
                with fresh_database(databases, "single"):
                    markets = build(n_users, n_bots, single_pair=True)
                    single = fan_out_real(fake, markets, bots=n_bots)
                print(
                    f"fan-out, one pair: {n_bots} bots on {markets[0].symbol}: {single['positions']} positions "
                    f"opened in {single['s']:.3f} s ({n_bots / single['s']:.0f} bots/s), "
                    f"{single['evaluations']} strategy evaluations, {single['queries']} queries"
                )
                figures |= {
                    f"fanout_single_pair_{n_bots}_bots_s": round(single["s"], 4),
                    "fanout_single_pair_queries": single["queries"],
                    "fanout_single_pair_strategy_evaluations": single["evaluations"],
                    "fanout_single_pair_positions_opened": single["positions"],
                }

            with fresh_database(databases, "naive"):
                markets = build(n_users, n_bots)
                naive = fan_out_naive(fake, markets, limit=naive_bots)
            naive_per_bot = naive["s"] / naive["bots"]
            ratio = naive_per_bot * n_bots / real["s"]
            print(
                f"naive fan-out: {naive['bots']} bots, each its own decision: {naive['positions']} positions in "
                f"{naive['s']:.3f} s ({naive_per_bot * 1000:.2f} ms a bot, {naive['queries'] / naive['bots']:.1f} "
                f"queries a bot), {naive['evaluations']} strategy evaluations; scaled to {n_bots} bots "
                f"{naive_per_bot * n_bots:.2f} s: the shared fan-out is {ratio:.1f}x faster"
            )
            figures |= {
                "naive_fanout_bots": naive["bots"],
                "naive_fanout_s": round(naive["s"], 3),
                "naive_fanout_ms_per_bot": round(naive_per_bot * 1000, 3),
                "naive_fanout_extrapolated_s": round(naive_per_bot * n_bots, 3),
                "naive_fanout_queries_per_bot": round(naive["queries"] / naive["bots"], 1),
                "naive_fanout_strategy_evaluations": naive["evaluations"],
                "ratio_vs_naive": round(ratio, 2),
            }

            if args.profile:
                profile_fan_out(databases, fake, n_users, n_bots)
    figures["ledger_breaches"] = 0
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
