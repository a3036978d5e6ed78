from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import TradingAccount


def accounts_for(*, user) -> QuerySet[TradingAccount]:
    # `deriv`: the Deriv side of Deriv accounts (connection state), None for Nexus accounts.
    return TradingAccount.objects.filter(user=user).select_related("ledger_account", "deriv")


def account_for_user(*, user, pk: int) -> TradingAccount:
    """The user's own account, or 404: other users' ids do not exist for them."""
    return get_object_or_404(accounts_for(user=user), pk=pk)


def selected_account(*, user) -> TradingAccount | None:
    accounts = list(accounts_for(user=user))
    return next((a for a in accounts if a.is_selected), accounts[0] if accounts else None)
