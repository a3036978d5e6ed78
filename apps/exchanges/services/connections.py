"""Exchange connections: the paper exchange every trader has, real ones by API key, and their balances in the ledger.

A real key is checked before it is stored: it must read balances and trade,
and must not withdraw where the exchange says so. Its balances at the
exchange are mirrored into the ledger (EXCHANGE realm) against the exchange
world account, and kept so by each fill and by `balances_sync`.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_log
from apps.billing.entitlements import feature_refusal, limit_refusal
from apps.common import crypto
from apps.common.events import send_after_commit
from apps.ledger.models import AccountKind, LedgerAccount, TransferKind
from apps.ledger.services import ledger_account_open, system_account, transfer

from ..models import ConnectionStatus, Exchange, ExchangeConnection, SpotBot, SpotBotStatus
from ..signals import spot_changed
from ..venues import KeyRefused, Unreachable, Venue

PLACES = Decimal("0.00000001")


def asset_account(connection: ExchangeConnection, asset: str) -> LedgerAccount:
    """The ledger account of one asset on one connection, opened on first use."""
    code = f"exchange:{connection.pk}:{asset}"
    found = LedgerAccount.objects.filter(code=code).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return ledger_account_open(
                owner_id=connection.user_id,
                code=code,
                name=f"{connection.label} {asset}",
                realm=connection.realm,
                currency=asset,
            )
    except IntegrityError:
        return LedgerAccount.objects.get(code=code)


def world_account(connection: ExchangeConnection, asset: str) -> LedgerAccount:
    return system_account(kind=AccountKind.EXCHANGE, realm=connection.realm, currency=asset)


def paper_connection(*, user) -> ExchangeConnection:
    """The trader's paper exchange, opened with EXCHANGE_PAPER_BALANCE of its quote on first use."""
    found = ExchangeConnection.objects.filter(user=user, paper=True, removed_at=None).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            connection = ExchangeConnection.objects.create(
                user=user, exchange=Exchange.BINANCE, paper=True, label="Paper (Binance prices)"
            )
            transfer(
                debit=world_account(connection, connection.quote),
                credit=asset_account(connection, connection.quote),
                amount=Decimal(settings.EXCHANGE_PAPER_BALANCE),
                kind=TransferKind.ISSUE,
                idempotency_key=f"exchange:{connection.pk}:paper-issue",
                reference=f"paper:{connection.pk}",
            )
            return connection
    except IntegrityError:
        return ExchangeConnection.objects.get(user=user, paper=True, removed_at=None)


def _last4(value: str) -> str:
    return value[-4:]


def connection_connect(
    *, user, exchange: str, label: str, api_key: str, secret: str, passphrase: str = "", request=None
) -> ExchangeConnection:
    """Check the key with the exchange, then store it encrypted and mirror its balances. ValidationError by field."""
    if refusal := feature_refusal(user, "live_trading"):
        raise refusal.error("api_key")
    count = ExchangeConnection.objects.filter(user=user, paper=False, removed_at=None).count()
    if refusal := limit_refusal(user, "max_exchange_connections", wanted=count + 1):
        raise refusal.error("api_key")
    credentials = {"apiKey": api_key, "secret": secret}
    if passphrase:
        credentials["password"] = passphrase
    name = Exchange(exchange).label
    venue = Venue(exchange, credentials)
    try:
        allowed = venue.permissions()
        if not allowed.can_read:
            raise ValidationError({"api_key": f"This key cannot read balances at {name}: enable reading for it."})
        if not allowed.can_trade:
            raise ValidationError({"api_key": f"This key cannot trade at {name}: enable spot trading for it."})
        if allowed.can_withdraw:
            raise ValidationError(
                {"api_key": f"This key can withdraw funds from {name}. Create a key without withdrawal permission."}
            )
        balances = venue.balances()
    except KeyRefused as exc:
        raise ValidationError({"secret": f"{name} refused this key and secret: {exc.reason}"}) from None
    except Unreachable:
        raise ValidationError(f"{name} did not answer. Nothing was saved; try again in a minute.") from None
    with transaction.atomic():
        connection = ExchangeConnection.objects.create(
            user=user,
            exchange=exchange,
            label=label,
            api_key_encrypted=crypto.encrypt(api_key),
            secret_encrypted=crypto.encrypt(secret),
            passphrase_encrypted=crypto.encrypt(passphrase) if passphrase else "",
            key_last4=_last4(api_key),
        )
        _mirror(connection, balances)
        audit_log(actor=user, action="exchange.connect", target=connection, request=request)
    return connection


def _mirror(connection: ExchangeConnection, balances: dict[str, Decimal]) -> None:
    """Make the connection's ledger accounts hold `balances` (the exchange's word), moving the difference."""
    held = {
        account.currency: account
        for account in LedgerAccount.objects.filter(code__startswith=f"exchange:{connection.pk}:")
    }
    for asset in sorted(set(held) | set(balances)):
        want = balances.get(asset, Decimal("0")).quantize(PLACES)
        account = held.get(asset) or asset_account(connection, asset)
        gap = want - account.balance
        if not gap:
            continue
        world = world_account(connection, asset)
        debit, credit = (world, account) if gap > 0 else (account, world)
        transfer(
            debit=debit,
            credit=credit,
            amount=abs(gap),
            kind=TransferKind.ADJUSTMENT,
            idempotency_key=f"exchange:{connection.pk}:sync:{uuid.uuid4().hex}",
            reference=f"exchange:{connection.pk}",
        )


def balances_sync(*, connection: ExchangeConnection) -> None:
    """Read a real connection's balances from its exchange into the ledger (deposits and withdrawals made there)."""
    balances = Venue(connection.exchange, connection.credentials).balances()
    with transaction.atomic():
        _mirror(connection, balances)


def connection_status_set(*, connection: ExchangeConnection, status: str, reason: str = "") -> None:
    if connection.status == status and connection.status_reason == reason[:200]:
        return
    ExchangeConnection.objects.filter(pk=connection.pk).update(
        status=status, status_reason=reason[:200], status_changed_at=timezone.now()
    )
    connection.status, connection.status_reason = status, reason[:200]


def connection_remove(*, user, connection_id: int, request=None) -> None:
    """Stop its bots, delete its secrets, and take its mirrored balances out of the books. History stays."""
    with transaction.atomic():
        connection = ExchangeConnection.objects.select_for_update().get(
            pk=connection_id, user=user, paper=False, removed_at=None
        )
        SpotBot.objects.filter(connection=connection, status=SpotBotStatus.RUNNING).update(
            status=SpotBotStatus.STOPPED, status_reason="Its exchange connection was removed."
        )
        _mirror(connection, {})
        connection.api_key_encrypted = connection.secret_encrypted = connection.passphrase_encrypted = ""
        connection.removed_at = timezone.now()
        connection.status = ConnectionStatus.REFUSED
        connection.status_reason = "Removed by the trader."
        connection.save()
        audit_log(actor=user, action="exchange.remove", target=connection, request=request)
        send_after_commit(spot_changed, sender=ExchangeConnection, user_ids=[user.pk])


def connections_rotate_keys() -> tuple[int, list[int]]:
    """Re-encrypt every stored exchange key with the key ring's newest key; how many, and the ids no key reads."""
    rotated, unreadable = 0, []
    keyed = ExchangeConnection.objects.exclude(api_key_encrypted="").order_by("pk").values_list("pk", flat=True)
    for pk in keyed:
        with transaction.atomic():
            connection = ExchangeConnection.objects.select_for_update().get(pk=pk)
            try:
                for name in ("api_key_encrypted", "secret_encrypted", "passphrase_encrypted"):
                    if getattr(connection, name):
                        setattr(connection, name, crypto.rotate(getattr(connection, name)))
            except crypto.DecryptError:
                unreadable.append(pk)
                continue
            connection.save(update_fields=["api_key_encrypted", "secret_encrypted", "passphrase_encrypted"])
            rotated += 1
    return rotated, unreadable
