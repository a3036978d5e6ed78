import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.services import audit_log
from apps.common.money import money_text
from apps.ledger.models import AccountKind, Realm, TransferKind
from apps.ledger.services import ledger_account_open, ledger_accounts_lock, system_account, transfer
from apps.notifications.models import Kind
from apps.notifications.services import notification_create

from .models import AccountType, TradingAccount

MAX_DEMO_ACCOUNTS = 5


def demo_balance() -> Decimal:
    return Decimal(settings.NEXUS["DEMO_BALANCE"])


@transaction.atomic
def account_open_demo(*, user, label: str = "Demo account") -> TradingAccount:
    """Open a Nexus demo account funded with the demo balance, selected if it is the user's first.

    A user holds at most MAX_DEMO_ACCOUNTS of them (ValidationError past that).
    """
    # The user's row is locked so that two opens at once cannot both pass the count.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    if user.trading_accounts.filter(type=AccountType.DEMO).count() >= MAX_DEMO_ACCOUNTS:
        raise ValidationError(f"You can hold at most {MAX_DEMO_ACCOUNTS} demo accounts.", code="too_many_demo_accounts")
    currency = settings.NEXUS["DEMO_CURRENCY"]
    ledger_account = ledger_account_open(
        owner=user, code=f"user:{uuid.uuid4().hex}", name=f"{user.email} {label}", realm=Realm.DEMO, currency=currency
    )
    account = TradingAccount.objects.create(
        user=user,
        type=AccountType.DEMO,
        label=label,
        currency=currency,
        ledger_account=ledger_account,
        is_selected=not user.trading_accounts.filter(is_selected=True).exists(),
    )
    transfer(
        debit=system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency=currency),
        credit=ledger_account,
        amount=demo_balance(),
        kind=TransferKind.ISSUE,
        idempotency_key=f"demo-open:{account.pk}",
        reference=f"account:{account.pk}",
    )
    ledger_account.refresh_from_db(fields=["balance"])
    audit_log(actor=user, action="account.open_demo", target=account)
    return account


@transaction.atomic
def account_select(*, user, account: TradingAccount) -> TradingAccount:
    if account.user_id != user.pk:
        raise PermissionError("Not this user's account.")
    TradingAccount.objects.filter(user=user, is_selected=True).exclude(pk=account.pk).update(is_selected=False)
    TradingAccount.objects.filter(pk=account.pk).update(is_selected=True)
    account.is_selected = True
    return account


@transaction.atomic
def account_reset_demo(*, user, account: TradingAccount, request=None) -> TradingAccount:
    """Bring a demo account back to the demo balance with one ledger transfer.

    Stakes of open contracts stay in escrow and settle as usual afterwards.
    """
    if account.user_id != user.pk:
        raise PermissionError("Not this user's account.")
    if account.type != AccountType.DEMO:
        raise ValidationError("Only demo accounts can be reset.")
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency=account.currency)
    # Locked with the world, in the ledger's lock order, so a purchase cannot land between reading
    # the balance and topping it up.
    before = ledger_accounts_lock(ids=[account.ledger_account_id, world.pk])[account.ledger_account_id]
    target = demo_balance()
    key = f"demo-reset:{account.pk}:{uuid.uuid4().hex}"
    if before < target:
        transfer(
            debit=world,
            credit=account.ledger_account,
            amount=target - before,
            kind=TransferKind.RESET,
            idempotency_key=key,
            reference=f"account:{account.pk}",
        )
    elif before > target:
        transfer(
            debit=account.ledger_account,
            credit=world,
            amount=before - target,
            kind=TransferKind.RESET,
            idempotency_key=key,
            reference=f"account:{account.pk}",
        )
    audit_log(
        actor=user,
        action="account.reset_demo",
        target=account,
        request=request,
        data={"balance_before": str(before), "balance_after": str(target)},
    )
    notification_create(
        user=user,
        kind=Kind.DEMO_RESET,
        title=f"{account.label} reset to {money_text(target)} {account.currency}",
        body=f"The balance was {money_text(before)} {account.currency}.",
    )
    account.ledger_account.refresh_from_db(fields=["balance"])
    return account
