"""Revenue's money invariants, run by ledger_check with the ledger's own."""

from decimal import Decimal

from django.db.models import Q, Sum

from apps.ledger.models import AccountKind, LedgerAccount, Transfer, TransferKind

# What may move money into or out of each account revenue owns.
_KINDS = {AccountKind.REVENUE: TransferKind.COMMISSION, AccountKind.PARTNER: TransferKind.MARKUP}


def revenue_breaches() -> list[str]:
    """Platform revenue holds exactly its commissions, and each partner's earnings exactly their markups."""
    breaches = []
    accounts = LedgerAccount.objects.filter(kind__in=_KINDS).annotate(
        earned=Sum("credits__amount", filter=Q(credits__kind__in=list(_KINDS.values())))
    )
    for account in accounts:
        expected = Decimal(account.earned or 0).quantize(Decimal("0.01"))
        if account.balance != expected:
            breaches.append(
                f"{account.code} holds {account.balance}, its {_KINDS[account.kind].lower()}s total {expected}"
            )
    for kind, transfer_kind in _KINDS.items():
        stray = Transfer.objects.filter(Q(credit__kind=kind) | Q(debit__kind=kind)).exclude(kind=transfer_kind).count()
        if stray:
            breaches.append(f"{stray} transfers other than {transfer_kind.lower()} touch {kind.lower()} accounts")
        wrong = Transfer.objects.filter(kind=transfer_kind).exclude(credit__kind=kind).count()
        if wrong:
            breaches.append(f"{wrong} {transfer_kind.lower()} transfers do not land in a {kind.lower()} account")
    return breaches
