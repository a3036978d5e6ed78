"""Bots' writes: `bots` (create, edit, start, stop, kill switches, settled results) and `cycle` (decide, fan out)."""

from .bots import (
    BOT_SETTINGS,
    bot_create,
    bot_errors,
    bot_start,
    bot_stop,
    bot_update,
    bots_fit_plan,
    bots_stop_by_staff,
    kill_switch_set,
    results_apply,
    strategy_config_for,
)
from .cycle import decision_execute, decision_failed, markets_decide, signals_watch

__all__ = [
    "BOT_SETTINGS",
    "bot_create",
    "bot_errors",
    "bot_start",
    "bot_stop",
    "bot_update",
    "bots_fit_plan",
    "bots_stop_by_staff",
    "decision_execute",
    "decision_failed",
    "kill_switch_set",
    "markets_decide",
    "results_apply",
    "signals_watch",
    "strategy_config_for",
]
