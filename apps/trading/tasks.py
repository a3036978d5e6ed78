"""Worker entry points: they take ids and call services."""

from .services import contracts_settle, paused_markets_notify


def settle_markets(market_ids: list[int]) -> int:
    return len(contracts_settle(market_ids=market_ids))


def settle_overdue() -> int:
    """The schedule's sweep: anything due on any market, in case a tick's task was lost.

    Also tells traders holding contracts on a market whose prices stopped.
    """
    paused_markets_notify()
    return len(contracts_settle())
