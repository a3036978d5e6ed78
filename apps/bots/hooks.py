"""The decision cycle is enqueued by the feed, after each committed tick batch."""

from django_q.tasks import async_task


def enqueue_decisions(market_ids: list[int]) -> None:
    """Decide on the markets that need it: those with running bots, or all while the signals monitor is open."""
    from .services import markets_to_decide

    if markets := markets_to_decide(market_ids):
        async_task("apps.bots.tasks.evaluate_markets", markets, group="bots")


def apply_results(sender, results, **kwargs) -> None:
    from .services import results_apply

    results_apply(results)
