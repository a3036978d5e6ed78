"""Writes for Deriv links and Deriv accounts.

A link holds one trader's Deriv tokens (encrypted). Each Deriv Options
account becomes a TradingAccount (DERIV_DEMO / DERIV_REAL) with its own ledger
account, in realm DERIV_DEMO or REAL, whose balance mirrors Deriv's: every
sync writes one ADJUSTMENT transfer between it and the realm's "Deriv world"
system account for the difference, so cached balances always equal the
entries (`deriv_balance_apply`, also meant for the live balance stream).

When Deriv refuses the token (401 expired/revoked, 403 scope), rate-limits it
(429) or cannot be reached, the link and its accounts are marked disconnected
with a reason the trader can read; the next successful call reconnects them.
"""

import datetime
import logging
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import AccountType, TradingAccount
from apps.accounts.services import account_select
from apps.audit.services import audit_log
from apps.common.events import send_after_commit
from apps.ledger.models import AccountKind, LedgerAccount, Realm, Transfer, TransferKind
from apps.ledger.services import ledger_account_open, ledger_accounts_lock, system_account, to_money, transfer
from apps.notifications.alerts import deriv_disconnected_notify

from . import adapter, budget, crypto, rest
from .errors import (
    DerivAuthError,
    DerivError,
    DerivTransportError,
    Forbidden,
    InternalError,
    PermissionDenied,
    RateLimit,
    Unauthorized,
)
from .models import Connection, DerivAccount, DerivLink
from .selectors import DERIV_TYPES, PROVIDER
from .signals import deriv_accounts_changed, deriv_unlinked

log = logging.getLogger(__name__)

T = TypeVar("T")

# ---------------------------------------------------------------- reasons shown to the trader

REASON_EXPIRED = "Deriv no longer accepts Nexus's access (it expired or was revoked). Link Deriv again."
REASON_SCOPE = "Deriv refused: Nexus was not given the trade permission. Link Deriv again and allow trading."
REASON_RATE = "Deriv is limiting requests right now. Try again in a minute."
REASON_DOWN = "Deriv could not be reached. Try again later."
REASON_KEYS = "The stored Deriv access cannot be read any more. Link Deriv again."
REASON_GONE = "Deriv no longer lists this account."


def reason_for(error: Exception) -> str:
    if isinstance(error, crypto.TokenDecryptError):
        return REASON_KEYS
    if isinstance(error, Forbidden | PermissionDenied):
        return REASON_SCOPE
    if isinstance(error, DerivAuthError):
        return REASON_EXPIRED
    if isinstance(error, RateLimit):
        return REASON_RATE
    if isinstance(error, DerivTransportError | InternalError):
        return REASON_DOWN
    return f"Deriv refused the request ({getattr(error, 'code', type(error).__name__)})."


# ---------------------------------------------------------------- identity and tokens


def account_as_json(account: adapter.Account) -> dict:
    """A REST account as kept in SocialAccount.extra_data (money as a string)."""
    return {
        "account_id": account.account_id,
        "account_type": account.account_type,
        "currency": account.currency,
        "balance": None if account.balance is None else str(account.balance),
        "status": account.status,
        "group": account.group,
    }


def _rest(token: str) -> rest.DerivRest:
    return rest.DerivRest(token, base_url=settings.DERIV["REST_BASE"], app_id=settings.DERIV.get("APP_ID") or None)


@transaction.atomic
def deriv_link_store(
    *,
    user,
    social_account=None,
    access_token_encrypted: str,
    refresh_token_encrypted: str = "",
    expires_at=None,
    scope: str = "",
    accounts: list[dict] | None = None,
    request=None,
) -> DerivLink:
    """Keep the tokens of a sign-in or link (already encrypted) and bring in its accounts."""
    link = DerivLink.objects.select_for_update().filter(user=user).first()
    if link is None:
        link = DerivLink(user=user)
    link.access_token_encrypted = access_token_encrypted
    if refresh_token_encrypted:  # a new grant without a refresh token keeps the previous one
        link.refresh_token_encrypted = refresh_token_encrypted
    link.expires_at = expires_at
    link.scope = scope
    if social_account is not None:
        link.social_account = social_account
    was_connected = link.pk is not None and link.is_connected
    link.connection, link.reason, link.connection_changed_at = Connection.CONNECTED, "", timezone.now()
    link.save()
    if not was_connected:
        audit_log(actor=user, action="deriv.link", target=link, request=request, data={"scope": scope})
    if accounts is not None:
        deriv_accounts_apply(link=link, accounts=[adapter.parse_account(a) for a in accounts], source="login")
    return link


def deriv_link_from_login(*, sociallogin, request=None) -> DerivLink | None:
    """The tokens and accounts of a completed Deriv sign-in (allauth's SocialLogin)."""
    token = sociallogin.token
    if token is None or not token.token:
        return None
    extra = sociallogin.account.extra_data or {}
    return deriv_link_store(
        user=sociallogin.user,
        social_account=sociallogin.account if sociallogin.account.pk else None,
        access_token_encrypted=token.token,
        refresh_token_encrypted=token.token_secret or "",
        expires_at=token.expires_at,
        scope=extra.get("scope") or "",
        accounts=extra.get("accounts"),
        request=request,
    )


def _store_refreshed(link: DerivLink, tokens: rest.TokenSet) -> None:
    link.access_token_encrypted = crypto.encrypt(tokens.access_token)
    if tokens.refresh_token:
        link.refresh_token_encrypted = crypto.encrypt(tokens.refresh_token)
    link.expires_at = timezone.now() + datetime.timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    if tokens.scope:
        link.scope = tokens.scope
    link.save(update_fields=["access_token_encrypted", "refresh_token_encrypted", "expires_at", "scope", "updated_at"])


# An access token this close to its expiry is refreshed before use, not after Deriv refuses it.
REFRESH_EARLY_S = 60
# A REST call waits this long at most for room in the user's budget (Deriv allows 80 a minute).
REST_BUDGET_WAIT_S = 5.0


def _expiring(link: DerivLink) -> bool:
    soon = timezone.now() + datetime.timedelta(seconds=REFRESH_EARLY_S)
    return bool(link.refresh_token_encrypted) and link.expires_at is not None and link.expires_at <= soon


def deriv_link_token(*, link: DerivLink, refused: str | None = None) -> str:
    """The access token to call Deriv with, refreshed first when it expires soon or Deriv just `refused` it.

    Refresh tokens are single-use, and Deriv's kind of OAuth server revokes the
    whole grant when one is spent twice: so the link row is locked, re-read, and
    refreshed only if it still needs it. Two sockets of one trader reconnecting
    at once refresh once; the second finds the first's new token. The lock is
    held over the token endpoint's round trip (rare: once an hour or so; on
    SQLite the transaction is IMMEDIATE, so it serializes there too).
    """
    if refused is None and not _expiring(link):
        return link.access_token
    with transaction.atomic():
        locked = DerivLink.objects.select_for_update().filter(pk=link.pk).first()
        if locked is None:
            raise Unauthorized("Deriv was unlinked")
        current = locked.access_token
        stale = current == refused if refused is not None else _expiring(locked)
        if stale and locked.refresh_token_encrypted:
            try:
                tokens = rest.refresh_tokens(
                    client_id=settings.DERIV["CLIENT_ID"],
                    refresh_token=locked.refresh_token,
                    auth_base=settings.DERIV["AUTH_URL"],
                )
            except (DerivTransportError, InternalError):
                if refused is not None:
                    raise
                # Refreshing early failed, but the token still works for a little while: use it.
                log.warning("Deriv link %s: early token refresh failed; using the current token", link.pk)
                tokens = None
            if tokens is not None:
                _store_refreshed(locked, tokens)
                current = tokens.access_token
    for name in ("access_token_encrypted", "refresh_token_encrypted", "expires_at", "scope"):
        setattr(link, name, getattr(locked, name))
    return current


def deriv_call(*, link: DerivLink, call: Callable[[rest.DerivRest], T]) -> T:
    """Run one REST call with the link's token.

    A token about to expire is refreshed first, and a 401 with a refresh token
    on hand refreshes once and retries (`deriv_link_token`). Calls count against
    the trader's REST budget (apps.deriv.budget: 80 a minute); after Deriv's 429
    none is sent for a minute. A refusal marks the link disconnected with its
    reason and re-raises; a success after a disconnection marks it connected
    again. Never inside a transaction: the HTTP round trip must not hold the
    database's write lock.
    """
    try:
        token = deriv_link_token(link=link)
        try:
            result = _budgeted(link, call, token)
        except Unauthorized:
            if not link.refresh_token_encrypted:
                raise
            result = _budgeted(link, call, deriv_link_token(link=link, refused=token))
    except (DerivError, crypto.TokenDecryptError) as error:
        if isinstance(
            error, DerivAuthError | RateLimit | DerivTransportError | InternalError | crypto.TokenDecryptError
        ):
            deriv_link_disconnect(link=link, reason=reason_for(error))
        raise
    if not link.is_connected:
        deriv_link_reconnect(link=link)
    return result


def _budgeted(link: DerivLink, call: Callable[[rest.DerivRest], T], token: str) -> T:
    budget.rest_budgets.take(link.user_id, timeout=REST_BUDGET_WAIT_S)
    try:
        return call(_rest(token))
    except RateLimit as error:
        if not isinstance(error, budget.OverBudget):
            budget.rest_budgets.refused(link.user_id)
        raise


@transaction.atomic
def deriv_link_disconnect(*, link: DerivLink, reason: str) -> None:
    DerivLink.objects.filter(pk=link.pk).update(
        connection=Connection.DISCONNECTED, reason=reason, connection_changed_at=timezone.now()
    )
    DerivAccount.objects.filter(link=link).update(connection=Connection.DISCONNECTED, reason=reason)
    if link.connection != Connection.DISCONNECTED:
        audit_log(actor=link.user, action="deriv.disconnected", target=link, data={"reason": reason})
        deriv_disconnected_notify(user_id=link.user_id, reason=reason)
    link.connection, link.reason = Connection.DISCONNECTED, reason
    log.warning("Deriv link %s disconnected: %s", link.pk, reason)


@transaction.atomic
def deriv_link_reconnect(*, link: DerivLink) -> None:
    DerivLink.objects.filter(pk=link.pk).update(
        connection=Connection.CONNECTED, reason="", connection_changed_at=timezone.now()
    )
    DerivAccount.objects.filter(link=link).update(connection=Connection.CONNECTED, reason="")
    link.connection, link.reason = Connection.CONNECTED, ""


# ---------------------------------------------------------------- accounts and balances


def _realm(account_type: str) -> str:
    return Realm.DERIV_DEMO if account_type == AccountType.DERIV_DEMO else Realm.REAL


@transaction.atomic
def deriv_account_open(*, link: DerivLink, remote: adapter.Account) -> TradingAccount:
    """A Deriv account seen for the first time: its trading account and its own ledger account."""
    user = link.user
    kind = AccountType.DERIV_DEMO if remote.is_demo else AccountType.DERIV_REAL
    ledger_account = ledger_account_open(
        owner=user,
        code=f"user:{uuid.uuid4().hex}",
        name=f"{user.email} Deriv {remote.account_id}",
        realm=_realm(kind),
        currency=remote.currency,
    )
    account = TradingAccount.objects.create(
        user=user,
        type=kind,
        label=remote.account_id,
        currency=remote.currency,
        ledger_account=ledger_account,
        external_id=remote.account_id,
    )
    DerivAccount.objects.create(trading_account=account, link=link, status=remote.status)
    audit_log(actor=user, action="deriv.account_open", target=account, data={"external_id": remote.account_id})
    return account


def deriv_accounts_apply(*, link: DerivLink, accounts: list[adapter.Account], source: str) -> list[TradingAccount]:
    """Make the trader's Deriv trading accounts match Deriv's list, balances included."""
    seen: list[TradingAccount] = []
    with transaction.atomic():
        # One sync per trader at a time: two must not both open the same new account.
        DerivLink.objects.select_for_update().filter(pk=link.pk).first()
        existing = {
            a.external_id: a
            for a in TradingAccount.objects.filter(user=link.user, type__in=DERIV_TYPES).select_related(
                "ledger_account"
            )
        }
        deactivated = set(
            DerivAccount.objects.filter(trading_account__user=link.user, deactivated_at__isnull=False).values_list(
                "trading_account__external_id", flat=True
            )
        )
        for remote in accounts:
            if remote.account_id in deactivated:
                continue  # staff deactivated it: it stays unlinked whatever Deriv lists
            if remote.account_type not in ("demo", "real") or not 1 <= len(remote.currency) <= 3:
                log.warning(
                    "Deriv account %s skipped: type %r currency %r",
                    remote.account_id,
                    remote.account_type,
                    remote.currency,
                )
                continue
            account = existing.get(remote.account_id)
            if account is None:
                account = deriv_account_open(link=link, remote=remote)
            DerivAccount.objects.update_or_create(
                trading_account=account,
                defaults={
                    "link": link,
                    "status": remote.status,
                    "connection": link.connection,
                    "reason": link.reason,
                },
            )
            if remote.balance is not None:
                deriv_balance_apply(account=account, balance=remote.balance, source=source)
            seen.append(account)
        gone = [a.pk for a in existing.values() if a.external_id not in {r.account_id for r in accounts}]
        DerivAccount.objects.filter(trading_account__in=gone).update(status="inactive", reason=REASON_GONE)
        DerivLink.objects.filter(pk=link.pk).update(synced_at=timezone.now())
    return seen


def deriv_ledger_lock(*, account: TradingAccount) -> tuple[Decimal, LedgerAccount]:
    """Lock a Deriv account's ledger row with its realm's Deriv world (the ledger's lock order).

    Both: a balance adjustment writes the two, and taking the world after the account, when its id is
    lower, would deadlock with a settlement of the same account. Returns the account's balance and the world.
    """
    ledger = account.ledger_account
    world = system_account(kind=AccountKind.DERIV, realm=ledger.realm, currency=ledger.currency)
    return ledger_accounts_lock(ids=[ledger.pk, world.pk])[ledger.pk], world


@transaction.atomic
def deriv_balance_apply(*, account: TradingAccount, balance: Decimal, source: str) -> Transfer | None:
    """Bring the account's ledger balance to Deriv's `balance` with one ADJUSTMENT transfer.

    Against the realm's Deriv world account; nothing is written when they already agree.
    Deriv's amounts are rounded down to the cent (the ledger's rule).
    """
    if account.type not in DERIV_TYPES:
        raise ValidationError("Only Deriv accounts mirror a Deriv balance.")
    target = to_money(Decimal(balance))
    if target < 0:
        raise ValidationError("A Deriv balance is never negative.")
    before, world = deriv_ledger_lock(account=account)
    difference = target - before
    DerivAccount.objects.filter(trading_account=account).update(balance_source=source[:20], balance_at=timezone.now())
    if not difference:
        return None
    ledger = account.ledger_account
    debit, credit = (world, ledger) if difference > 0 else (ledger, world)
    made = transfer(
        debit=debit,
        credit=credit,
        amount=abs(difference),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key=f"deriv-balance:{account.pk}:{uuid.uuid4().hex}",
        reference=f"deriv:{source}"[:100],
    )
    account.ledger_account.refresh_from_db(fields=["balance"])
    send_after_commit(deriv_accounts_changed, sender=DerivAccount, user_ids=[account.user_id])
    return made


def deriv_accounts_sync(*, user, source: str = "refresh") -> list[TradingAccount]:
    """Fetch the trader's accounts from Deriv and apply them (raises DerivError when Deriv refuses)."""
    link = DerivLink.objects.select_related("user").get(user=user)
    accounts = deriv_call(link=link, call=lambda api: api.accounts())
    return deriv_accounts_apply(link=link, accounts=accounts, source=source)


def deriv_demo_reset(*, user, account: TradingAccount, request=None) -> TradingAccount:
    """Reset a Deriv demo account at Deriv, then mirror the new balance."""
    if account.user_id != user.pk:
        raise PermissionError("Not this user's account.")
    if account.type != AccountType.DERIV_DEMO:
        raise ValidationError("Only Deriv demo accounts can be reset at Deriv.")
    link = DerivLink.objects.select_related("user").filter(user=user).first()
    if link is None:
        raise ValidationError("Link Deriv first.")
    deriv_call(link=link, call=lambda api: api.reset_demo_balance(account.external_id))
    audit_log(actor=user, action="deriv.reset_demo", target=account, request=request)
    deriv_accounts_sync(user=user, source="reset")
    account.ledger_account.refresh_from_db(fields=["balance"])
    return account


# ---------------------------------------------------------------- unlinking


@transaction.atomic
def on_unlink(*, user, request=None) -> None:
    """Forget the trader's Deriv tokens; their Deriv accounts stay (history) but go dead.

    Idempotent. Sockets: `deriv_unlinked` is sent after commit so whatever holds the
    user's authenticated Deriv connections closes them.
    """
    deleted, _ = DerivLink.objects.filter(user=user).delete()
    DerivAccount.objects.filter(trading_account__user=user).update(
        link=None, connection=Connection.UNLINKED, reason="Deriv was unlinked."
    )
    selected = TradingAccount.objects.filter(user=user, is_selected=True, type__in=DERIV_TYPES).exists()
    fallback = TradingAccount.objects.filter(user=user, type=AccountType.DEMO).first()
    if selected and fallback is not None:
        account_select(user=user, account=fallback)
    if deleted:
        audit_log(actor=user, action="deriv.unlink", target=user, request=request)
    send_after_commit(deriv_unlinked, sender=DerivLink, user_id=user.pk)


def deriv_unlink(*, user, request=None) -> None:
    """The trader's "Unlink": drop the tokens and the Deriv sign-in.

    A trader who has no other way in (no password) keeps the sign-in until they set one.
    """
    from allauth.socialaccount.models import SocialAccount

    if not user.has_usable_password():
        raise ValidationError("Set a password first, so that you can still sign in without Deriv.")
    with transaction.atomic():
        SocialAccount.objects.filter(user=user, provider=PROVIDER).delete()
        on_unlink(user=user, request=request)


# ---------------------------------------------------------------- the trading socket's state

REASON_SOCKET = "Nexus lost its connection to Deriv and is reconnecting."
REASON_STOPPED = "Nexus is not connected to Deriv right now."


def deriv_account_connection(*, account_id: int, connected: bool, reason: str = "") -> bool:
    """The state of an account's trading socket, as the trader sees it (unlinked accounts stay unlinked).

    Written by the connection manager; True when it changed.
    """
    state = Connection.CONNECTED if connected else Connection.DISCONNECTED
    reason = "" if connected else reason[:200]
    changed = (
        DerivAccount.objects.filter(trading_account_id=account_id)
        .exclude(connection=Connection.UNLINKED)
        .exclude(connection=state, reason=reason)
        .update(connection=state, reason=reason)
    )
    if changed:
        log.info("Deriv account %s %s %s", account_id, state.lower(), reason)
        user_id = TradingAccount.objects.filter(pk=account_id).values_list("user_id", flat=True).first()
        if user_id is not None:
            send_after_commit(deriv_accounts_changed, sender=DerivAccount, user_ids=[user_id])
    return bool(changed)


# ---------------------------------------------------------------- staff


REASON_DEACTIVATED = "Deactivated by staff."


@transaction.atomic
def deriv_accounts_deactivate(*, account_ids: Iterable[int], actor, request=None) -> int:
    """Staff's "delete": the Deriv accounts can never trade again, their history stays.

    Unlinked from the trader's Deriv link (no socket, no balance sync) and
    skipped by every later sync. Returns how many were deactivated now.
    """
    rows = list(
        DerivAccount.objects.select_for_update()
        .filter(trading_account_id__in=list(account_ids), deactivated_at=None)
        .select_related("trading_account")
    )
    now = timezone.now()
    for row in rows:
        DerivAccount.objects.filter(pk=row.pk).update(
            link=None, connection=Connection.UNLINKED, reason=REASON_DEACTIVATED, deactivated_at=now
        )
        audit_log(actor=actor, action="deriv.account_deactivate", target=row.trading_account, request=request)
    if rows:
        user_ids = sorted({row.trading_account.user_id for row in rows})
        send_after_commit(deriv_accounts_changed, sender=DerivAccount, user_ids=user_ids)
    return len(rows)
