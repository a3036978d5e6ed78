"""What bots do when other apps' facts happen."""

from django.dispatch import receiver
from django_q.tasks import async_task

from apps.billing.signals import subscription_changed
from apps.markets.signals import ticks_committed
from apps.notifications.signals import digest_sections_requested
from apps.trading.signals import contracts_settled
from apps.users.signals import self_exclusion_started

from .selectors import digest_lines, markets_to_decide
from .services import bots_fit_plan, results_apply
from .services.bots import bots_of_user_stop


@receiver(ticks_committed, dispatch_uid="bots.enqueue_decisions")
def enqueue_decisions(sender, market_ids: list[int], **kwargs) -> None:
    """Decide on the markets that need it: those with running bots, or all while the signals monitor is open.

    Sent after commit with `send_robust`: with the broker (Redis) out of reach
    the enqueue fails here and is logged; that tick's decisions are skipped
    (a decision belongs to its tick), and bots decide again on the next tick
    that reaches the worker.
    """
    if markets := markets_to_decide(market_ids=market_ids):
        async_task("apps.bots.tasks.evaluate_markets", markets, group="bots")


@receiver(contracts_settled, dispatch_uid="bots.apply_results")
def apply_results(sender, results, **kwargs) -> None:
    """Inside the settlement's transaction: each bot's P&L, streaks and recovery step, exactly once."""
    results_apply(results=results)


@receiver(digest_sections_requested, dispatch_uid="bots.digest_lines")
def bots_in_digest(sender, user_ids, start, end, **kwargs) -> dict[int, list[str]]:
    """The daily summary's bots: how many run now, and those that stopped during the day, with why."""
    return digest_lines(user_ids=user_ids, start=start, end=end)


@receiver(subscription_changed, dispatch_uid="bots.fit_plan")
def fit_plan(sender, user_id: int, **kwargs) -> None:
    """After commit, when a trader's plan changed: running bots over the plan in force stop, with one notice."""
    bots_fit_plan(user_id=user_id)


@receiver(self_exclusion_started, dispatch_uid="bots.stop_on_self_exclusion")
def stop_on_self_exclusion(sender, user_id: int, until, **kwargs) -> None:
    """Inside the transaction that set it: the trader's running bots stop, each with a notice."""
    bots_of_user_stop(user_id=user_id, reason="SELF_EXCLUDED", until=until)
