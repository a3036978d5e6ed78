"""Settlement is enqueued by the feed, after each committed tick."""

from django_q.tasks import async_task

from .services import contracts_due


def enqueue_settlement(market_ids: list[int]) -> None:
    due_markets = sorted(set(contracts_due(market_ids).values_list("market_id", flat=True)))
    if due_markets:
        async_task("apps.trading.tasks.settle_markets", due_markets, group="settlement")
