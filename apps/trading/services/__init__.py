"""Trading's writes: buying (purchase), settling from our ticks (settlement), and
contracts bought and settled at an outside venue (venue).

Callers import from here: `from apps.trading.services import contract_buy`.
"""

from .purchase import (
    DERIV_ACCOUNTS,
    UNAVAILABLE,
    Buyer,
    Order,
    WinTerms,
    account_unavailable,
    contract_buy,
    contracts_buy_many,
    is_deriv,
    market_refusal,
    payout_for,
    win_terms,
)
from .settlement import SETTLE_BATCH, contracts_settle, outcome, paused_markets_notify
from .venue import (
    SEND_DEADLINE_S,
    VenuePurchase,
    VenueResult,
    deriv_contract_claim,
    deriv_contract_entry,
    deriv_contract_opened,
    deriv_contract_refuse,
    deriv_contract_settle,
)

__all__ = [
    "DERIV_ACCOUNTS",
    "SEND_DEADLINE_S",
    "SETTLE_BATCH",
    "UNAVAILABLE",
    "Buyer",
    "Order",
    "VenuePurchase",
    "VenueResult",
    "WinTerms",
    "account_unavailable",
    "contract_buy",
    "contracts_buy_many",
    "contracts_settle",
    "deriv_contract_claim",
    "deriv_contract_entry",
    "deriv_contract_opened",
    "deriv_contract_refuse",
    "deriv_contract_settle",
    "is_deriv",
    "market_refusal",
    "outcome",
    "paused_markets_notify",
    "payout_for",
    "win_terms",
]
