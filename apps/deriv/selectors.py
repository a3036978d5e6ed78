from django.db.models import QuerySet

from apps.accounts.models import AccountType, TradingAccount


def deriv_accounts_for(*, user) -> QuerySet[TradingAccount]:
    """The trader's Deriv trading accounts (demo first), with their Deriv side."""
    return (
        TradingAccount.objects.filter(user=user, type__in=(AccountType.DERIV_DEMO, AccountType.DERIV_REAL))
        .select_related("ledger_account", "deriv")
        .order_by("type", "external_id")
    )
