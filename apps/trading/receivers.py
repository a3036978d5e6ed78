"""What trading does when other apps' facts happen."""

from django.dispatch import receiver
from django_q.tasks import async_task

from apps.ledger.signals import ledger_checked
from apps.markets.signals import ticks_committed

from .checks import contract_breaches
from .selectors import contracts_due


@receiver(ticks_committed, dispatch_uid="trading.enqueue_settlement")
def enqueue_settlement(sender, market_ids: list[int], **kwargs) -> None:
    """New ticks may decide open contracts: the worker settles the markets that have due ones.

    Sent after commit with `send_robust`: with the broker (Redis) out of reach
    the enqueue fails here, is logged, and the `settle-overdue` sweep settles
    those contracts from the database within a minute, on their own exit ticks.
    """
    due_markets = sorted(set(contracts_due(market_ids=market_ids).values_list("market_id", flat=True)))
    if due_markets:
        async_task("apps.trading.tasks.settle_markets", due_markets, group="settlement")


@receiver(ledger_checked, dispatch_uid="trading.contract_breaches")
def check_contracts(sender, **kwargs) -> list[str]:
    return contract_breaches()
