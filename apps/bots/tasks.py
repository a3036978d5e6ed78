"""Worker entry points: they take ids and call services."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .backtests import backtest_run, backtests_fail_stale
from .models import Decision, RegimeRecord
from .services import decision_execute, decision_failed, markets_decide

logger = logging.getLogger(__name__)


def evaluate_markets(market_ids: list[int]) -> int:
    """One decision cycle: decide once per configuration, then fan out each decision that says trade."""
    decisions = markets_decide(market_ids=market_ids)
    for decision in decisions:
        if decision.is_actionable and decision.executed_at is None:
            execute_decision(decision.pk)
    return len(decisions)


def execute_decision(decision_id: int) -> None:
    try:
        decision_execute(decision_id=decision_id)
    except Exception:
        logger.exception("fan-out of decision %s failed", decision_id)
        decision_failed(decision_id=decision_id)
        raise


def purge_old_decisions() -> int:
    """Decisions and regime readings older than the tick retention go, except decisions bots traded on."""
    cutoff = timezone.now() - timedelta(days=settings.NEXUS["TICK_RETENTION_DAYS"])
    deleted, _ = Decision.objects.filter(decided_at__lt=cutoff, trades__isnull=True).delete()
    regimes, _ = RegimeRecord.objects.filter(time__lt=cutoff).delete()
    return deleted + regimes


def run_backtest(backtest_id: int) -> str:
    return backtest_run(backtest_id=backtest_id)


def fail_stale_backtests() -> int:
    return backtests_fail_stale()
