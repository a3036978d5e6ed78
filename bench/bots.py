"""Bots benchmark: one decision fanned out to thousands of bots, against a per-bot loop.

    .venv/bin/python bench/bots.py [--bots 5000] [--configs 5] [--naive-bots 5000] [--cycles 120]
                                   [--backtest-days 30]

Runs on fresh SQLite databases in a temporary directory (see bench/settlement.py).

Fan-out: N running bots on one one-second OTC market, spread over --configs
distinct strategy configurations and N/5 demo accounts; the market's prices
climb, so every configuration says RISE. A new tick is written, then timed
from that tick's commit to every contract written:

  real   apps.bots.tasks.evaluate_markets: the regime once, one decision per
         distinct configuration (counted), the fan-out with each bot's risk
         manager, one bulk purchase through `contracts_buy_many`
  naive  per bot: read its window of ticks, evaluate its strategies and the
         regime, size the stake, buy through `contract_buy`, save its state

on identical data. Both must buy one contract per bot; `ledger_breaches()`
must be empty after each.

Live cycle: then, on the real path, --cycles simulated seconds of a random
walk on the same market with every bot still running, back to back; each
second writes a tick, runs the decision cycle and settles what is due (the
feed's two tasks for a tick). Tick-to-decision is the time from the tick's
commit to its decisions stored; tick-to-contracts until the fan-out has
written its last contract; the whole second includes settling thousands of
bot contracts and applying their results. Percentiles over the cycles.

Backtest: all four strategies and the regime over --backtest-days of
one-second generated ticks (86,400 a day), through the same engine the
backtest pages use; prints ticks per second.

Nothing here asserts on time. The last line printed is one JSON object with
every figure.
"""

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settlement import (  # noqa: E402 - the path above makes the sibling importable
    SqliteDatabases,
    _configure,
    build_accounts,
    build_market,
    fresh_database,
)

SEED = 20241122


def configs(count: int):
    """`count` distinct trend-following configurations (parameters differ), all saying RISE on a climb."""
    from apps.bots.engine.config import DecisionConfig

    return [
        DecisionConfig(
            {"scalping": {}, "momentum": {"fast": 7 + i % 5, "slow": 21 + i // 5}, "breakout": {}}, 2, Decimal("0.50")
        )
        for i in range(count)
    ]


def climb(n: int, start: float) -> list[Decimal]:
    return [Decimal(f"{start + i * 0.05 + (0.02 if i % 3 == 0 else 0):.2f}") for i in range(n)]


def write_prices(market, prices, *, start_at=None) -> None:
    """Ticks one second apart ending now (or from `start_at`); the market's last tick moves with them."""
    from django.db import transaction
    from django.utils import timezone

    from apps.markets.models import Market, Tick

    end = timezone.now()
    first = start_at or end - timedelta(seconds=len(prices) - 1)
    with transaction.atomic():
        ticks = [
            Tick(market=market, seq=market.last_seq + 1 + i, time=first + timedelta(seconds=i), price=p)
            for i, p in enumerate(prices)
        ]
        Tick.objects.bulk_create(ticks, batch_size=2000)
        market.last_seq, market.last_price, market.last_tick_at = ticks[-1].seq, ticks[-1].price, ticks[-1].time
        Market.objects.filter(pk=market.pk).update(
            last_seq=market.last_seq, last_price=market.last_price, last_tick_at=market.last_tick_at
        )


def build_bots(n: int, n_configs: int):
    """A market with a climb of history, N/5 funded accounts and N running bots over `n_configs` configurations."""
    from django.db import transaction
    from django.utils import timezone

    from apps.bots.engine.config import REGIME_WINDOW
    from apps.bots.models import Bot, BotStatus
    from apps.bots.services import strategy_config_for

    with transaction.atomic():
        market = build_market(tick_interval_ms=1000)
        decisions = configs(n_configs)
        window = max(REGIME_WINDOW, *(d.window for d in decisions))
        write_prices(market, climb(window + 5, 100.0))
        accounts = build_accounts(max(1, n // 5))
        stored = [strategy_config_for(decision=d) for d in decisions]
        today = timezone.now().date()
        Bot.objects.bulk_create(
            [
                Bot(
                    user_id=accounts[i % len(accounts)].user_id,
                    account=accounts[i % len(accounts)],
                    market=market,
                    name=f"Bench bot {i}",
                    config=stored[i % len(stored)],
                    base_stake=Decimal("1.00"),
                    max_stake=Decimal("10.00"),
                    max_open_contracts=1000,
                    max_trades_per_day=100_000,
                    daily_loss_limit=Decimal("1000.00"),
                    status=BotStatus.RUNNING,
                    started_at=timezone.now(),
                    day=today,
                    starting_equity=Decimal("10000.00"),
                    equity=Decimal("10000.00"),
                )
                for i in range(n)
            ],
            batch_size=2000,
        )
    return market


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


def fan_out_real(market) -> dict:
    from apps.bots.models import BotTrade
    from apps.bots.tasks import evaluate_markets

    write_prices(market, climb(1, float(market.last_price) + 0.05))
    with EvaluationCounter() as counter:
        started = time.perf_counter()
        evaluate_markets([market.pk])
        elapsed = time.perf_counter() - started
    return {"s": elapsed, "evaluations": counter.count, "contracts": BotTrade.objects.count()}


def fan_out_naive(market, limit: int) -> dict:
    """Per bot, everything again: its ticks, its strategies, the regime, its risk, one purchase."""
    from django.db import transaction
    from django.utils import timezone

    from apps.bots.engine import risk
    from apps.bots.engine.config import REGIME_WINDOW
    from apps.bots.engine.regime import classify
    from apps.bots.models import Bot
    from apps.markets.models import Tick
    from apps.trading.models import Contract
    from apps.trading.services import contract_buy

    write_prices(market, climb(1, float(market.last_price) + 0.05))
    with EvaluationCounter() as counter:
        started = time.perf_counter()
        for bot_id in Bot.objects.order_by("id").values_list("pk", flat=True)[:limit]:
            with transaction.atomic():
                bot = Bot.objects.select_related("market", "account__ledger_account", "config", "user").get(pk=bot_id)
                config = bot.config.decision_config
                window = max(REGIME_WINDOW, config.window)
                prices = list(
                    Tick.objects.filter(market=bot.market).order_by("-seq").values_list("price", flat=True)[:window]
                )[::-1]
                classify(prices[-REGIME_WINDOW:])
                decision = config.evaluate(prices)
                if decision.direction == "NONE":
                    continue
                sizing = risk.size(bot.risk_settings(), bot.risk_state(), kill_switches=risk.KillSwitches())
                if sizing.stake is None:
                    continue
                contract_buy(
                    user=bot.user,
                    account=bot.account,
                    market=bot.market,
                    direction=decision.direction,
                    stake=sizing.stake,
                    duration=bot.duration,
                    duration_unit=bot.duration_unit,
                    idempotency_key=f"naive:{bot.pk}:{bot.market.last_seq}",
                )
                bot.set_risk_state(risk.after_buy(bot.risk_state(), stake=sizing.stake))
                bot.last_decision_at = timezone.now()
                bot.save()
        elapsed = time.perf_counter() - started
    return {"s": elapsed, "evaluations": counter.count, "contracts": Contract.objects.count(), "bots": limit}


def live_cycles(market, cycles: int, rng: random.Random) -> dict:
    """Seconds of a random walk: tick, settle, decide and fan out, timed from each tick's commit."""
    from apps.bots.models import Decision
    from apps.bots.services import decision_execute, markets_decide
    from apps.trading.services import contracts_settle

    decide_ms, contracts_ms, cycle_ms, bought = [], [], [], 0
    price = float(market.last_price)
    for _ in range(cycles):
        price = max(1.0, price + rng.gauss(0.01, 0.08))
        write_prices(market, [Decimal(f"{price:.2f}")])
        committed = time.perf_counter()
        decisions = markets_decide(market_ids=[market.pk])
        decide_ms.append((time.perf_counter() - committed) * 1000)
        for decision in decisions:
            if decision.is_actionable and decision.executed_at is None:
                bought += decision_execute(decision_id=decision.pk).bought
        contracts_ms.append((time.perf_counter() - committed) * 1000)
        # Settlement is the feed's other task for the same tick; here it runs after, in the same second.
        contracts_settle(market_ids=[market.pk])
        cycle_ms.append((time.perf_counter() - committed) * 1000)
    actionable = Decision.objects.exclude(direction="NONE").count()
    return {
        "decide_ms": decide_ms,
        "contracts_ms": contracts_ms,
        "cycle_ms": cycle_ms,
        "bought": bought,
        "actionable_decisions": actionable,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def backtest_speed(days: float) -> dict:
    from datetime import UTC, datetime

    from backtest import spec as wide_spec  # the sibling bench/backtest.py

    from apps.bots.engine import backtest
    from apps.markets.generator import GeneratorSettings

    count = int(days * 86_400)
    spec = wide_spec(frozenset())  # all four strategies, limits that never stop the run
    ticks = backtest.generated_ticks(
        seed=SEED,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        count=count,
        interval_ms=1000,
        price=Decimal("100.00"),
        settings=GeneratorSettings(volatility_mode="MEDIUM", trend_bias=0.0, decimals=2),
    )
    started = time.perf_counter()
    report = backtest.run(spec, ticks, total=count)
    elapsed = time.perf_counter() - started
    assert report.ticks == count and report.stop_reason is None, (report.ticks, report.stop_reason)
    return {"ticks": report.ticks, "s": elapsed, "trades": report.trades}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=5000)
    parser.add_argument("--configs", type=int, default=5)
    parser.add_argument("--naive-bots", type=int, default=None, help="Bots the naive loop runs (default: all).")
    parser.add_argument("--cycles", type=int, default=120)
    parser.add_argument("--backtest-days", type=float, default=30.0)
    args = parser.parse_args()
    naive_bots = args.naive_bots or args.bots

    with tempfile.TemporaryDirectory(prefix="nexus-bench-bots-") as directory:
        databases = SqliteDatabases(directory)
        _configure(f"sqlite:///{directory}/template.sqlite3")
        from django.conf import settings

        # The naive loop takes minutes over one tick: its price must not go stale meanwhile.
        settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 3600.0}
        from apps.ledger.checks import ledger_breaches

        databases.prepare()
        figures: dict = {"bots": args.bots, "configs": args.configs}

        with fresh_database(databases, "real"):
            market = build_bots(args.bots, args.configs)
            real = fan_out_real(market)
            assert real["contracts"] == args.bots, real
            assert not ledger_breaches(), ledger_breaches()
            live = live_cycles(market, args.cycles, random.Random(SEED))
            assert not ledger_breaches(), ledger_breaches()
        print(
            f"real:  {args.bots} bots, {args.configs} configurations: {real['evaluations']} evaluations, "
            f"{real['contracts']} contracts in {real['s']:.3f} s ({args.bots / real['s']:.0f} bots/s)"
        )
        with fresh_database(databases, "naive"):
            market = build_bots(args.bots, args.configs)
            naive = fan_out_naive(market, naive_bots)
            assert naive["contracts"] == naive_bots, naive
            assert not ledger_breaches(), ledger_breaches()
        naive_per_bot = naive["s"] / naive_bots
        ratio = naive_per_bot * args.bots / real["s"]
        print(
            f"naive: {naive_bots} bots: {naive['evaluations']} evaluations, {naive['contracts']} contracts "
            f"in {naive['s']:.3f} s ({naive_bots / naive['s']:.0f} bots/s); real path {ratio:.1f}× faster"
        )
        print(
            f"live:  {args.cycles} one-second cycles with {args.bots} running bots: tick-to-decision "
            f"p50 {percentile(live['decide_ms'], 50):.1f} ms, p99 {percentile(live['decide_ms'], 99):.1f} ms; "
            f"tick-to-contracts p50 {percentile(live['contracts_ms'], 50):.1f} ms, "
            f"p99 {percentile(live['contracts_ms'], 99):.1f} ms; whole second with settlement "
            f"p99 {percentile(live['cycle_ms'], 99):.1f} ms; {live['actionable_decisions']} decisions said trade, "
            f"{live['bought']} contracts bought"
        )
        figures |= {
            "fanout_s": round(real["s"], 4),
            "fanout_bots_per_s": round(args.bots / real["s"]),
            "strategy_evaluations": real["evaluations"],
            "naive_bots": naive_bots,
            "naive_s": round(naive["s"], 3),
            "naive_strategy_evaluations": naive["evaluations"],
            "naive_s_per_bot_ms": round(naive_per_bot * 1000, 3),
            "ratio_vs_naive": round(ratio, 1),
            "tick_to_decision_p50_ms": round(percentile(live["decide_ms"], 50), 1),
            "tick_to_decision_p99_ms": round(percentile(live["decide_ms"], 99), 1),
            "tick_to_contracts_p50_ms": round(percentile(live["contracts_ms"], 50), 1),
            "tick_to_contracts_p99_ms": round(percentile(live["contracts_ms"], 99), 1),
            "cycle_with_settlement_p50_ms": round(percentile(live["cycle_ms"], 50), 1),
            "cycle_with_settlement_p99_ms": round(percentile(live["cycle_ms"], 99), 1),
            "live_cycles": args.cycles,
            "live_contracts_bought": live["bought"],
        }
        if args.backtest_days > 0:
            bt = backtest_speed(args.backtest_days)
            print(
                f"backtest: {bt['ticks']} one-second ticks ({args.backtest_days:g} days), all four strategies: "
                f"{bt['s']:.1f} s, {bt['ticks'] / bt['s']:.0f} ticks/s, {bt['trades']} trades"
            )
            figures |= {
                "backtest_ticks": bt["ticks"],
                "backtest_s": round(bt["s"], 2),
                "backtest_ticks_per_s": round(bt["ticks"] / bt["s"]),
            }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
