"""The decision cycle is enqueued by the feed, after each committed tick batch."""

from django_q.tasks import async_task


def enqueue_decisions(market_ids: list[int]) -> None:
    async_task("apps.bots.tasks.evaluate_markets", sorted(market_ids), group="bots")


def apply_results(sender, results, **kwargs) -> None:
    from .services import results_apply

    results_apply(results)
