"""Backtest speed: the four strategies and the regime gatekeeper over generated one-second ticks.

Runs `engine.backtest.run` (every block of ticks decided at once with numpy)
over `--days` of ticks, and both it and `run_per_tick` (the strategies' talipp
streams fed one price at a time, as before) over `--naive-days`, and checks
the two gave the same report and the same trades. The ticks are generated
first and timed apart: the figures are the engine's, ticks in memory.

Run: `.venv/bin/python bench/backtest.py [--days 7] [--naive-days 1]`.
Nothing here asserts on time. The last line printed is one JSON object.
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus.settings")
os.environ.setdefault("DEBUG", "on")  # development settings: no SECRET_KEY needed, and no database is touched

SEED = 20241122


def spec(blocked: frozenset[str]):
    from apps.bots.engine.backtest import BacktestSpec
    from apps.bots.engine.config import DecisionConfig
    from apps.bots.engine.risk import RiskSettings

    return BacktestSpec(
        decision=DecisionConfig(),  # all four strategies, default parameters
        blocked_regimes=blocked,
        # Wide limits: the run goes through every tick, not ending at the first stop.
        risk=RiskSettings(
            base_stake=Decimal("1.00"),
            max_stake=Decimal("10.00"),
            daily_loss_limit=Decimal("100000.00"),
            max_consecutive_losses=1000,
            max_trades_per_day=100_000,
            max_drawdown_pct=Decimal("100"),
        ),
        duration=5,
        duration_unit="t",
        payout_percent=Decimal("85.00"),
        tie_rule="REFUND",
        starting_balance=Decimal("1000000.00"),
    )


def ticks(count: int) -> tuple[list, float]:
    from apps.bots.engine.backtest import generated_ticks
    from apps.markets.generator import GeneratorSettings

    started = time.perf_counter()
    series = list(
        generated_ticks(
            seed=SEED,
            start=datetime(2026, 1, 1, tzinfo=UTC),
            count=count,
            interval_ms=1000,
            price=Decimal("100.00"),
            settings=GeneratorSettings(volatility_mode="MEDIUM", trend_bias=0.0, decimals=2),
        )
    )
    return series, time.perf_counter() - started


def timed(runner, settings, series) -> dict:
    trades: list = []
    wall, cpu = time.perf_counter(), time.process_time()
    report = runner(settings, series, total=len(series), on_trade=trades.append)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert report.ticks == len(series) and report.stop_reason is None, (report.ticks, report.stop_reason)
    return {"report": report, "trades": trades, "s": wall, "cpu_s": cpu, "ticks_per_s": len(series) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0, help="Days of one-second ticks for the fast path.")
    parser.add_argument("--naive-days", type=float, default=1.0, help="Days the per-tick path runs (it is slow).")
    parser.add_argument(
        "--blocked", default="BEARISH", help="Regimes the gatekeeper blocks, comma-separated ('' for none)."
    )
    args = parser.parse_args()

    import django

    django.setup()
    from apps.bots.engine.backtest import run, run_per_tick

    blocked = frozenset(kind for kind in args.blocked.split(",") if kind)
    settings = spec(blocked)
    count, naive_count = int(args.days * 86_400), int(args.naive_days * 86_400)

    sample, generated_s = ticks(max(count, naive_count))
    print(f"generated {len(sample)} ticks in {generated_s:.1f} s ({len(sample) / generated_s:.0f} ticks/s, not timed)")

    naive_sample = sample[:naive_count]
    old = timed(run_per_tick, settings, naive_sample)
    same_sample = timed(run, settings, naive_sample)
    identical = old["report"] == same_sample["report"] and old["trades"] == same_sample["trades"]
    print(
        f"per tick (talipp streams): {naive_count} ticks in {old['s']:.2f} s wall, {old['cpu_s']:.2f} s CPU: "
        f"{old['ticks_per_s']:.0f} ticks/s; {old['report'].trades} trades, decisions {dict(old['report'].decisions)}"
    )
    print(
        f"blocks (numpy), same ticks: {same_sample['s']:.2f} s wall, {same_sample['cpu_s']:.2f} s CPU: "
        f"{same_sample['ticks_per_s']:.0f} ticks/s; same report and trades: {identical}"
    )
    del naive_sample
    new = timed(run, settings, sample[:count])
    ratio = new["ticks_per_s"] / old["ticks_per_s"]
    print(
        f"blocks (numpy): {count} ticks ({args.days:g} days) in {new['s']:.2f} s wall, {new['cpu_s']:.2f} s CPU: "
        f"{new['ticks_per_s']:.0f} ticks/s ({count / new['cpu_s']:.0f} per CPU second), {new['report'].trades} trades, "
        f"regimes blocked {sorted(blocked) or 'none'} ({new['report'].skips.get('regime', 0)} skipped); "
        f"{ratio:.1f}× the per-tick path"
    )
    figures = {
        "name": "backtest_ticks_per_s",
        "figure": round(new["ticks_per_s"]),
        "unit": "ticks/s",
        "backtest_ticks": count,
        "backtest_s": round(new["s"], 3),
        "backtest_cpu_s": round(new["cpu_s"], 3),
        "backtest_ticks_per_s": round(new["ticks_per_s"]),
        "backtest_ticks_per_cpu_s": round(count / new["cpu_s"]),
        "naive_ticks": naive_count,
        "naive_s": round(old["s"], 3),
        "naive_cpu_s": round(old["cpu_s"], 3),
        "naive_ticks_per_s": round(old["ticks_per_s"]),
        "same_ticks_fast_s": round(same_sample["s"], 3),
        "ratio_vs_naive": round(ratio, 1),
        "decisions_identical": identical,
        "blocked_regimes": sorted(blocked),
        "trades": new["report"].trades,
        "generated_ticks_per_s": round(len(sample) / generated_s),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
