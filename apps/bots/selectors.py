"""Reads for the bots pages and the decision cycle. Selectors never write: a missing row reads as nothing."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum

from apps.markets.models import Market

from .engine import risk
from .engine.votes import warmup_counts
from .forms import STRATEGY_LABELS
from .models import Backtest, Bot, BotStatus, Decision, KillSwitch, RegimeRecord, SkipReason
from .shared import SIGNALS_WATCHED_KEY, monitor_decision, today


def bots_for(*, user) -> list[Bot]:
    """The trader's bots, each with today's figures rolled to today (`today_pnl`, `trades_today`)."""
    bots = list(Bot.objects.filter(user=user).select_related("market", "account", "config"))
    day = today()
    for bot in bots:
        _roll_today(bot, day)
    return bots


def _roll_today(bot: Bot, day) -> Bot:
    fresh = bot.day is None or bot.day < day
    bot.trades_today_now = 0 if fresh else bot.trades_today
    bot.today_pnl_now = Decimal("0.00") if fresh else bot.today_pnl
    return bot


def bot_for(*, user, bot_id: int) -> Bot:
    """The trader's bot, or Bot.DoesNotExist (a 404 in views) for anyone else's."""
    bot = Bot.objects.select_related("market", "account", "config").get(pk=bot_id, user=user)
    return _roll_today(bot, today())


def kill_switches_for(*, user) -> dict[str, KillSwitch | None]:
    """The trader's own kill switch and the global one, each None when never set."""
    switches = {s.user_id: s for s in KillSwitch.objects.filter(Q(user=user) | Q(user=None))}
    return {"user": switches.get(user.pk), "platform": switches.get(None)}


def engaged_switches() -> set[int | None]:
    """User ids whose kill switch is on; None in the set means the global one."""
    return set(KillSwitch.objects.filter(engaged=True).values_list("user_id", flat=True))


def markets_to_decide(*, market_ids: list[int]) -> list[int]:
    """Of `market_ids`, those a decision cycle should run on: all while the signals monitor is open,
    otherwise those with running bots."""
    if cache.get(SIGNALS_WATCHED_KEY):
        return sorted(market_ids)
    running = Bot.objects.filter(market_id__in=market_ids, status=BotStatus.RUNNING)
    return sorted(set(running.values_list("market_id", flat=True)))


def bot_skip_counts(*, bot: Bot) -> list[dict]:
    """Skips by reason: today's count, all stored days' count, and the last reason given."""
    day = today()
    counts: dict[str, dict] = {}
    for skip in bot.skips.order_by("day"):
        row = counts.setdefault(
            skip.reason, {"reason": skip.get_reason_display(), "today": 0, "total": 0, "last": "", "last_at": None}
        )
        row["total"] += skip.count
        if skip.day == day:
            row["today"] = skip.count
        row["last"], row["last_at"] = skip.last_detail, skip.last_at
    return sorted(counts.values(), key=lambda row: -row["total"])


def bot_trades(*, bot: Bot, page=None, per_page: int = 25):
    """A page of the bot's trades, newest first, with their decision (votes, regime) and contract (result)."""
    trades = bot.trades.select_related("decision", "contract").order_by("-id")
    return Paginator(trades, per_page).get_page(page)


# The most points the bot's P&L chart draws (evenly spread, first and last kept).
PNL_POINTS = 1000


def bot_pnl_points(*, bot: Bot) -> list[dict]:
    """The bot's cumulative P&L after each settled trade, as the chart reads it:
    [{time: epoch seconds, value}], one point per second (the last of it)."""
    rows = (
        bot.trades.filter(contract__settled_at__isnull=False, contract__amount_paid__isnull=False)
        .order_by("contract__settled_at", "contract_id")
        .values_list("contract__settled_at", "contract__amount_paid", "stake")
    )
    total = Decimal("0")
    points: dict[int, float] = {}
    for settled_at, paid, stake in rows:
        total += paid - stake
        points[int(settled_at.timestamp())] = float(total)
    series = sorted(points.items())
    if len(series) > PNL_POINTS:
        last = len(series) - 1
        series = [series[round(i * last / (PNL_POINTS - 1))] for i in range(PNL_POINTS)]
    return [{"time": t, "value": v} for t, v in series]


@dataclass
class BotStats:
    trades: int
    wins: int
    losses: int
    net: Decimal


def bot_stats(*, bot: Bot) -> BotStats:
    figures = bot.trades.aggregate(
        trades=Count("id"),
        wins=Count("id", filter=Q(contract__status="WON")),
        losses=Count("id", filter=Q(contract__status="LOST")),
        paid=Sum("contract__amount_paid", filter=~Q(contract__status="OPEN")),
        staked=Sum("stake", filter=~Q(contract__status="OPEN")),
    )
    net = (figures["paid"] or Decimal("0")) - (figures["staked"] or Decimal("0"))
    return BotStats(figures["trades"], figures["wins"], figures["losses"], net)


def signal_strategies() -> list[str]:
    """The signals monitor's strategies, in the order of its grid's columns."""
    return sorted(monitor_decision().strategies)


@dataclass
class MarketSignal:
    market: Market
    decision: Decision | None
    regime: RegimeRecord | None

    @property
    def cells(self) -> list[dict]:
        """Each monitor strategy's column: its `label`, its `vote` (None when it did not vote), and
        `warmup` (seen, needed) while it lacks history."""
        votes = {v["strategy"]: v for v in (self.decision.votes if self.decision else [])}
        cells = []
        for name in signal_strategies():
            vote = votes.get(name)
            warmup = warmup_counts(vote.get("reason", "")) if vote else None
            cells.append({"label": STRATEGY_LABELS.get(name, (name, ""))[0], "vote": vote, "warmup": warmup})
        return cells

    @property
    def warmup(self) -> tuple[int, int] | None:
        """While any strategy lacks history: prices seen and the most any of them needs."""
        counts = [cell["warmup"] for cell in self.cells if cell["warmup"]]
        return (min(c[0] for c in counts), max(c[1] for c in counts)) if counts else None

    @property
    def regime_warmup(self) -> tuple[int, int] | None:
        return warmup_counts(self.regime.reason) if self.regime else None


def market_signals(*, market: Market) -> MarketSignal:
    """The latest decision of the monitor's configuration (all four strategies) and regime on a market.

    No decision when that configuration is not stored yet: a read never creates it.
    """
    decision = Decision.objects.filter(market=market, config__key=monitor_decision().key).order_by("-seq").first()
    regime = RegimeRecord.objects.filter(market=market).order_by("-seq").first()
    return MarketSignal(market, decision, regime)


def signals_overview() -> list[MarketSignal]:
    return [market_signals(market=m) for m in Market.objects.filter(is_active=True).order_by("name")]


def backtests_for(*, user) -> list[Backtest]:
    return list(Backtest.objects.filter(user=user).select_related("market"))


def backtest_for(*, user, backtest_id: int) -> Backtest:
    """The trader's backtest, or Backtest.DoesNotExist (a 404 in views) for anyone else's."""
    return Backtest.objects.select_related("market").get(pk=backtest_id, user=user)


def stop_labels() -> dict[str, str]:
    return {reason.value: reason.label for reason in risk.StopReason}


# --- Backtest reports, as the pages show them ------------------------------------

REPORT_ROWS = (
    ("Trades", "trades"),
    ("Win rate", "win_rate_pct"),
    ("Break-even win rate", "break_even_pct"),
    ("Net P&L", "net_pnl"),
    ("Commission and markup on wins", "fees"),
    ("Max drawdown", "max_drawdown"),
    ("Profit factor", "profit_factor"),
    ("Expectancy per contract", "expectancy"),
    ("Longest losing streak", "longest_losing_streak"),
    ("Stopped", "stop_reason"),
)


def _percent(value) -> str:
    return "—" if value is None else f"{Decimal(str(value)) * 100:.1f}%"


def _money(value) -> str:
    return "—" if value is None else f"{Decimal(str(value)):+.2f}"


def backtest_figures(report: dict | None) -> dict:
    """The report's figures as text, keyed as REPORT_ROWS names them; empty before it is done."""
    if not report:
        return {}
    net = Decimal(str(report.get("net_pnl") or 0))
    factor = report.get("profit_factor")
    drawdown = Decimal(str(report.get("max_drawdown") or 0))
    stop = report.get("stop_reason")
    return {
        "trades": report.get("trades", 0),
        "win_rate_pct": _percent(report.get("win_rate")),
        "break_even_pct": _percent(report.get("breakeven_win_rate")),
        "net_pnl": _money(report.get("net_pnl")),
        "fees": f"{Decimal(str(report.get('fees') or 0)):.2f}",
        "net_positive": net > 0,
        "net_negative": net < 0,
        "max_drawdown": f"{drawdown:.2f} ({Decimal(str(report.get('max_drawdown_pct') or 0)):.2f}%)",
        "profit_factor": "—" if factor is None else f"{Decimal(str(factor)):.2f}",
        "expectancy": "—" if report.get("expectancy") is None else f"{Decimal(str(report['expectancy'])):+.4f}",
        "longest_losing_streak": report.get("longest_losing_streak", 0),
        "stop_reason": _stop_label(stop) if stop else "ran to the end of the prices",
        "final_balance": report.get("final_balance"),
    }


def _stop_label(code: str) -> str:
    labels = stop_labels()
    return labels.get(code, code.replace("_", " ").lower())


def _skip_label(code: str) -> str:
    """The backtest's skip codes (lower case) in words: the live skip reasons, then the stop reasons."""
    live = {reason.lower(): label for reason, label in SkipReason.choices}
    extra = {"balance": "Balance does not cover the stake"}
    if code in live or code in extra:
        return (live | extra)[code]
    return _stop_label(code.upper()).capitalize()


def backtest_equity(report: dict | None) -> list[dict]:
    """The equity curve as the chart reads it: [{time: epoch seconds, value}], times strictly increasing."""
    points: dict[int, float] = {}
    for moment, value in (report or {}).get("equity_curve") or ():
        points[int(datetime.fromisoformat(moment).timestamp())] = float(value)
    return [{"time": t, "value": v} for t, v in sorted(points.items())]


# Which way is better for each compared figure (higher or lower); the others are not ranked.
BETTER = {
    "win_rate_pct": ("win_rate", max),
    "net_pnl": ("net_pnl", max),
    "max_drawdown": ("max_drawdown", min),
    "profit_factor": ("profit_factor", max),
    "expectancy": ("expectancy", max),
    "longest_losing_streak": ("longest_losing_streak", min),
}


def compare_rows(backtests: list[Backtest]) -> list[tuple[str, list[tuple[object, bool]]]]:
    """REPORT_ROWS for backtests side by side: each value as text, and whether it is the row's best.

    A row whose values are all equal (or missing) marks none.
    """
    rows = []
    for label, key in REPORT_ROWS:
        best = None
        if key in BETTER:
            raw, pick = BETTER[key]
            values = [(b.report or {}).get(raw) for b in backtests]
            numbers = [Decimal(str(v)) for v in values if v is not None]
            if len(set(numbers)) > 1:
                best = pick(numbers)
            marks = [v is not None and best is not None and Decimal(str(v)) == best for v in values]
        else:
            marks = [False] * len(backtests)
        rows.append((label, [(b.figures.get(key, "—"), mark) for b, mark in zip(backtests, marks, strict=True)]))
    return rows


def compare_curves(backtests: list[Backtest]) -> list[dict]:
    """Each backtest's P&L over its run, for one chart: time is seconds since its first point,
    so runs over different periods start together."""
    curves = []
    for backtest in backtests:
        start = Decimal(str((backtest.report or {}).get("starting_balance") or 0))
        points = backtest_equity(backtest.report)
        first = points[0]["time"] if points else 0
        curves.append(
            {
                "name": backtest.name,
                "points": [{"time": p["time"] - first, "value": round(p["value"] - float(start), 2)} for p in points],
            }
        )
    return curves


def backtest_trades_page(*, backtest: Backtest, page, per_page: int = 25):
    """A page of the backtest's stored simulated contracts, in the order they settled."""
    return Paginator(backtest.trades.order_by("number"), per_page).get_page(page)


def backtest_daily(report: dict | None) -> list[dict]:
    """Per simulated UTC day: contracts bought, won, and their net P&L."""
    rows = []
    for day, row in sorted(((report or {}).get("daily") or {}).items()):
        net = Decimal(str(row.get("net") or 0))
        rows.append({"day": date.fromisoformat(day), "trades": row["trades"], "wins": row["wins"], "net": net})
    return rows


def with_report(backtest: Backtest) -> Backtest:
    backtest.figures = backtest_figures(backtest.report)
    backtest.equity_points = backtest_equity(backtest.report)
    skips = (backtest.report or {}).get("skips") or {}
    backtest.skips = sorted(((_skip_label(k), n) for k, n in skips.items()), key=lambda item: -item[1])
    stops = (backtest.report or {}).get("daily_stops") or {}
    backtest.daily_stops = [(_stop_label(k), n) for k, n in sorted(stops.items())]
    stopped_at = (backtest.report or {}).get("stopped_at")
    backtest.stopped_at = datetime.fromisoformat(stopped_at) if stopped_at else None
    backtest.daily = backtest_daily(backtest.report)
    return backtest


def digest_lines(*, user_ids, start, end) -> dict[int, list[str]]:
    """{user id: lines} for the daily summary: bots running now, and those stopped in [start, end) with why."""
    from collections import defaultdict

    lines = defaultdict(list)
    running = (
        Bot.objects.filter(user_id__in=user_ids, status=BotStatus.RUNNING)
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )
    for user_id, n in running:
        lines[user_id].append(f"Bots running: {n}")
    reasons = dict(Bot._meta.get_field("stopped_reason").choices)
    stopped = Bot.objects.filter(
        user_id__in=user_ids, status=BotStatus.STOPPED, stopped_at__gte=start, stopped_at__lt=end
    ).order_by("user_id", "stopped_at")
    for user_id, name, reason in stopped.values_list("user_id", "name", "stopped_reason"):
        lines[user_id].append(f"Bot {name}: {reasons.get(reason, reason)}")
    return dict(lines)
