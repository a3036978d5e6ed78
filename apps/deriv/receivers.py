"""What the Deriv app does when its own or trading's facts happen."""

from django.conf import settings
from django.dispatch import receiver

from apps.accounts.models import TradingAccount
from apps.ledger.signals import ledger_checked
from apps.markets.feed import OutsideFeed
from apps.markets.signals import feeds_requested
from apps.revenue.signals import revenue_report_requested
from apps.trading.models import Contract
from apps.trading.services import deriv_contract_refuse
from apps.trading.signals import account_refusals_requested, contracts_bought

from . import gateway, markup
from .checks import unlinked_escrow_breaches
from .feed import DerivFeed
from .selectors import deriv_real_refusals, deriv_unavailable, orders_to_send
from .signals import deriv_unlinked

NO_ANSWER = "Deriv trading is not available right now (no answer). Your stake is back; try again shortly."


@receiver(account_refusals_requested, sender=TradingAccount, dispatch_uid="deriv.refuse_unavailable_accounts")
def refuse_unavailable_accounts(sender, account_ids, **kwargs) -> dict[int, str]:
    """Trading asks before a purchase: a Deriv account trades only while its socket is up and Deriv lists it active."""
    return deriv_unavailable(account_ids=account_ids)


@receiver(account_refusals_requested, sender=TradingAccount, dispatch_uid="deriv.refuse_real_without_plan")
def refuse_real_without_plan(sender, account_ids, **kwargs) -> dict[int, str]:
    """Deriv real accounts trade only on a plan that includes them (linking stays allowed: nothing is lost)."""
    return deriv_real_refusals(account_ids=account_ids)


@receiver(contracts_bought, sender=Contract, dispatch_uid="deriv.hand_orders_over")
def hand_orders_over(
    sender, contract_ids: list[int], wait: bool = False, pending_ids: list[int] | None = None, **kwargs
) -> None:
    """After commit: the connection manager buys the PENDING orders at Deriv on the account's own socket.

    A trader's single purchase (`wait`) waits for Deriv's answer; when none
    comes in time, an order the manager never took is refused (stake back),
    one it took is left for it to finish. Bulk purchases do not wait.
    """
    if pending_ids is not None and not pending_ids:
        return  # only contracts on our own markets: nothing for Deriv
    pending = orders_to_send(contract_ids=contract_ids if pending_ids is None else pending_ids)
    if not pending:
        return
    if wait and len(pending) == 1:
        if gateway.buy(pending[0]) is None:
            deriv_contract_refuse(contract_id=pending[0], note=NO_ANSWER, unsent_only=True)
    else:
        gateway.buy_many(pending)


@receiver(deriv_unlinked, dispatch_uid="deriv.on_unlinked")
def on_unlinked(sender, user_id: int, **kwargs) -> None:
    """Whichever process unlinks, the connection manager closes the trader's sockets at once."""
    gateway.unlinked(user_id)


@receiver(feeds_requested, dispatch_uid="deriv.feed")
def deriv_feed(sender, **kwargs) -> OutsideFeed:
    """`runfeed` runs Deriv's public market data (`--source deriv`) when Deriv is on.

    Public market data only: the trading sockets are `run_deriv`'s, one process per deployment.
    """
    if not settings.DERIV["ENABLED"]:
        return OutsideFeed(name="deriv", note="The Deriv feed is off: set DERIV_ENABLED=on.")

    def run(should_stop) -> None:
        DerivFeed().run_forever(should_stop=should_stop)

    return OutsideFeed(name="deriv", note=f"Deriv feed running on {settings.DERIV['WS_PUBLIC']}.", run=run)


@receiver(ledger_checked, dispatch_uid="deriv.unlinked_escrow")
def check_unlinked_escrow(sender, **kwargs) -> list[str]:
    """ledger_check: escrow held for Deriv accounts that are no longer linked."""
    return unlinked_escrow_breaches()


@receiver(revenue_report_requested, dispatch_uid="deriv.markup_section")
def markup_section(sender, date_from, date_to, **kwargs):
    """The staff revenue page shows what Deriv reports the app earned in markup over the same days."""
    return markup.markup_section(date_from=date_from, date_to=date_to)
