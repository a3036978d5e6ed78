from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import AccountType, TradingAccount
from apps.billing.entitlements import Refusal, feature_refusal, plans_in_force
from apps.trading.models import HELD, Contract, Status

from .models import Connection, DerivAccount

DERIV_TYPES = (AccountType.DERIV_DEMO, AccountType.DERIV_REAL)
PROVIDER = "deriv"


def deriv_accounts_for(*, user) -> QuerySet[TradingAccount]:
    """The trader's Deriv trading accounts (demo first), with their Deriv side."""
    return (
        TradingAccount.objects.filter(user=user, type__in=DERIV_TYPES)
        .select_related("ledger_account", "deriv")
        .order_by("type", "external_id")
    )


def deriv_real_refusals(*, account_ids: Iterable[int]) -> dict[int, str]:
    """Deriv real accounts whose owner's plan does not trade them: linked and shown, but refused at trading."""
    rows = list(
        TradingAccount.objects.filter(pk__in=set(account_ids), type=AccountType.DERIV_REAL).values_list("pk", "user_id")
    )
    if not rows:
        return {}
    plans = plans_in_force({user_id for _, user_id in rows})
    refusals = {}
    for account_id, user_id in rows:
        if refusal := feature_refusal(None, "deriv_real_trading", plan=plans[user_id]):
            refusals[account_id] = refusal.message
    return refusals


def deriv_real_refusal(*, user) -> Refusal | None:
    """What the Deriv page says above real accounts when the trader's plan does not trade them."""
    return feature_refusal(user, "deriv_real_trading")


def deriv_unavailable(*, account_ids: Iterable[int]) -> dict[int, str]:
    """Why each of these Deriv trading accounts cannot trade now (missing ones are fine)."""
    reasons = {}
    rows = DerivAccount.objects.filter(trading_account_id__in=set(account_ids)).values_list(
        "trading_account_id", "connection", "reason", "status", "trading_account__label"
    )
    for account_id, state, reason, status, label in rows:
        if state == Connection.UNLINKED:
            reasons[account_id] = f"{label} is no longer linked to Nexus. Link Deriv again to trade on it."
        elif state != Connection.CONNECTED:
            reasons[account_id] = f"{label} is disconnected from Deriv: {reason or 'reconnecting'}"
        elif status != "active":
            reasons[account_id] = f"Deriv lists {label} as {status or 'inactive'}: it cannot trade."
    return reasons


def orders_to_send(*, contract_ids: Iterable[int]) -> list[int]:
    """Those of these contracts that are Deriv orders nobody has sent yet (PENDING, unsent), in id order."""
    return list(
        Contract.objects.filter(pk__in=list(contract_ids), at_deriv=True, status=Status.PENDING, deriv_sent_at=None)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def deriv_uid_for(*, account_ids: Iterable[str]) -> str:
    """The allauth uid of the Deriv user owning these accounts (see provider.py).

    A Deriv account Nexus already holds for a linked trader names that trader's
    identity; otherwise the lowest account id starts a new one.
    """
    from allauth.socialaccount.models import SocialAccount

    ids = sorted(set(account_ids))
    known = (
        SocialAccount.objects.filter(
            provider=PROVIDER,
            user__trading_accounts__type__in=DERIV_TYPES,
            user__trading_accounts__external_id__in=ids,
        )
        .order_by("pk")
        .values_list("uid", flat=True)
        .first()
    )
    return known or ids[0]


def escrow_held_unlinked(*, held_for: timedelta, now: datetime | None = None) -> dict[str, list[tuple[int, Decimal]]]:
    """Open or pending contracts (stake in escrow) of Deriv accounts that are unlinked, placed or sent
    more than `held_for` ago (on our clock): {external account id: [(contract id, stake), ...]}."""
    before = (now or timezone.now()) - held_for
    rows = (
        Contract.objects.filter(at_deriv=True, status__in=HELD)
        .filter(Q(account__deriv__connection=Connection.UNLINKED) | Q(account__deriv__link__isnull=True))
        .filter(Q(deriv_sent_at__lt=before) | Q(deriv_sent_at__isnull=True, purchased_at__lt=before))
        .values_list("account__external_id", "pk", "stake")
        .order_by("account__external_id", "pk")
    )
    held: dict[str, list[tuple[int, Decimal]]] = {}
    for external_id, pk, stake in rows:
        held.setdefault(external_id, []).append((pk, stake))
    return held
