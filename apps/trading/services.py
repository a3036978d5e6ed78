"""Buying and settling Rise/Fall contracts. Every money movement goes through the ledger.

Nexus demo accounts trade the OTC markets, settled here from our own ticks.
Deriv accounts trade the Deriv markets through the same `contract_buy` and
`contracts_buy_many`: the stake is mirrored into escrow and the contract is
PENDING until Deriv's connection manager (apps.deriv.connections) has bought
it at Deriv; it is settled from Deriv's result (apps.trading.deriv), never by
`contracts_settle`.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccountType, TradingAccount
from apps.audit.models import AuditEvent
from apps.audit.services import audit_log
from apps.common.bulk import insert_rows
from apps.ledger.models import AccountKind, LedgerAccount, TransferKind
from apps.ledger.services import InsufficientFunds, TransferSpec, system_account, to_money, transfer, transfer_many
from apps.markets.models import Market, Source, Tick, TieRule
from apps.notifications.models import Kind
from apps.notifications.services import NewNotification, notifications_create
from apps.realtime.push import push_user_state_after_commit

from .models import MINUTE_DURATIONS, TICK_DURATIONS, Contract, Direction, DurationUnit, Status
from .selectors import contracts_due
from .signals import contracts_settled

logger = logging.getLogger(__name__)

SETTLE_BATCH = 20_000
# Enum .values builds a new list on every call: bulk purchases check thousands of orders.
_DIRECTIONS = frozenset(Direction.values)
_DURATION_UNITS = frozenset(DurationUnit.values)


def payout_for(*, stake: Decimal, payout_percent: Decimal) -> Decimal:
    """What a winning contract pays back, stake included, rounded down to the cent."""
    return to_money(stake * (1 + payout_percent / 100))


DERIV_ACCOUNTS = (AccountType.DERIV_DEMO, AccountType.DERIV_REAL)
# The code of a refusal that lasts only while a Deriv account is disconnected:
# bots skip the decision (and trade again once it is back) rather than count an error.
UNAVAILABLE = "account_unavailable"


def is_deriv(account: "TradingAccount | Buyer") -> bool:
    return account.type in DERIV_ACCOUNTS


def account_unavailable(error: ValidationError) -> bool:
    """A refusal that lasts only while the account's Deriv connection is down."""
    errors = error.error_dict.values() if hasattr(error, "error_dict") else [error.error_list]
    return any(e.code == UNAVAILABLE for group in errors for e in group)


def deriv_unavailable(account_ids) -> dict[int, str]:
    """Why each of these Deriv trading accounts cannot trade now (missing ones are fine)."""
    from apps.deriv.models import Connection, DerivAccount

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


def market_refusal(
    account: "TradingAccount | Buyer", market: Market, check_prices: bool = True, *, unavailable: str | None = None
) -> str | None:
    """Why `account` cannot trade on `market` now, in a trader's words, or None.

    Nexus demo accounts trade OTC markets; Deriv accounts trade Deriv markets,
    while their connection to Deriv is up (`unavailable`: the reason it is not,
    looked up here when not given).
    """
    if not market.is_active:
        return f"{market.name} is closed for trading."
    if market.source == Source.DERIV and not is_deriv(account):
        return (
            f"{market.name} is a Deriv market: it cannot be traded from {account.label}. "
            "Switch to one of your Deriv accounts to trade it."
        )
    if market.source == Source.OTC and account.type != AccountType.DEMO:
        return (
            f"{market.name} is a Nexus market: it cannot be traded from {account.label}. "
            "Switch to your Nexus demo account to trade it."
        )
    if market.source not in (Source.OTC, Source.DERIV):
        return f"{market.name} cannot be traded from {account.label}."
    if is_deriv(account):
        if unavailable is None:
            unavailable = deriv_unavailable([account.pk]).get(account.pk)
        if unavailable:
            return unavailable
    if check_prices and not market.is_fresh:
        return (
            f"Prices for {market.name} are paused: no new price in the last "
            f"{int(market.stale_after.total_seconds())} seconds. Trading resumes when prices do."
        )
    return None


def _validate_order(
    *,
    account: "TradingAccount | Buyer",
    market: Market,
    stake: Decimal,
    duration: int,
    duration_unit: str,
    unavailable: str | None = None,
) -> None:
    errors: dict[str, str | ValidationError] = {}
    if unavailable is None and is_deriv(account):
        unavailable = deriv_unavailable([account.pk]).get(account.pk)
    if unavailable:
        errors["market"] = ValidationError(unavailable, code=UNAVAILABLE)
    elif refusal := market_refusal(account, market, unavailable=""):
        errors["market"] = refusal
    if stake != stake.quantize(Decimal("0.01")):
        errors["stake"] = "Enter a stake with at most two decimal places."
    elif stake < market.min_stake:
        errors["stake"] = f"The minimum stake on {market.name} is {market.min_stake} {account.currency}."
    elif stake > market.max_stake:
        errors["stake"] = f"The maximum stake on {market.name} is {market.max_stake} {account.currency}."
    if duration_unit == DurationUnit.TICKS and duration not in TICK_DURATIONS:
        errors["duration"] = "Tick contracts last 1 to 10 ticks."
    elif duration_unit == DurationUnit.MINUTES and duration not in MINUTE_DURATIONS:
        errors["duration"] = "Choose 1, 5, 15, 30 or 60 minutes."
    elif duration_unit not in _DURATION_UNITS:
        errors["duration"] = "Choose ticks or minutes."
    if errors:
        raise ValidationError(errors)


def contract_buy(
    *,
    user,
    account: TradingAccount,
    market: Market,
    direction: str,
    stake: Decimal,
    duration: int,
    duration_unit: str,
    idempotency_key: str,
    request=None,
) -> Contract:
    """Buy a contract: validate, move the stake into escrow, open the contract.

    The same idempotency key from the same user returns the first contract,
    so a double-submitted form buys once.

    On a Deriv account the contract is PENDING until Deriv answers: this asks
    the connection manager to buy it and waits for the answer. Deriv refusing
    raises a ValidationError with Deriv's reason (the stake is back); no
    answer in time leaves it PENDING (the manager finishes it either way) or,
    if the order never left, refuses it.
    """
    if account.user_id != user.pk:
        raise PermissionDenied("Not this user's account.")
    if direction not in _DIRECTIONS:
        raise ValidationError({"direction": "Choose Rise or Fall."})
    contract = _contract_buy_once(
        user=user,
        account=account,
        market=market,
        direction=direction,
        stake=stake,
        duration=duration,
        duration_unit=duration_unit,
        idempotency_key=idempotency_key,
        request=request,
    )
    if contract.at_deriv and contract.status == Status.PENDING and contract.deriv_sent_at is None:
        if transaction.get_connection().in_atomic_block:
            # The manager reads the order from the database: it can only be sent once committed.
            _deriv_send_after_commit([contract.pk])
            return contract
        contract = _deriv_send(contract)
        if contract.status == Status.REFUSED:
            raise ValidationError(contract.deriv_note or "Deriv did not take the order. Your stake is back.")
    return contract


def _deriv_send(contract: Contract) -> Contract:
    from apps.deriv import gateway

    from .deriv import deriv_contract_refuse

    reply = gateway.buy(contract.pk)
    if reply is None:
        deriv_contract_refuse(
            contract_id=contract.pk,
            note="Deriv trading is not available right now (no answer). Your stake is back; try again shortly.",
            unsent_only=True,
        )
    contract.refresh_from_db()
    return contract


def _deriv_send_after_commit(contract_ids: list[int]) -> None:
    """Hand orders to the connection manager once they are committed, without waiting for Deriv."""
    from apps.deriv import gateway

    ids = list(contract_ids)
    transaction.on_commit(lambda: gateway.buy_many(ids))


def _contract_buy_once(*, user, idempotency_key, **order) -> Contract:
    try:
        return _contract_buy(user=user, idempotency_key=idempotency_key, **order)
    except IntegrityError:
        # A concurrent request with the same key won the race: return its contract.
        existing = Contract.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing


@transaction.atomic
def _contract_buy(*, user, account, market, direction, stake, duration, duration_unit, idempotency_key, request):
    existing = Contract.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    # Re-read inside the transaction: the admin may have just changed the
    # market, and the entry spot must be the first tick after this moment.
    market = Market.objects.get(pk=market.pk)
    _validate_order(account=account, market=market, stake=stake, duration=duration, duration_unit=duration_unit)
    now = timezone.now()
    at_deriv = is_deriv(account)
    contract = Contract.objects.create(
        at_deriv=at_deriv,
        status=Status.PENDING if at_deriv else Status.OPEN,
        user=user,
        account=account,
        market=market,
        direction=direction,
        stake=stake,
        payout_percent=market.payout_percent,
        payout=payout_for(stake=stake, payout_percent=market.payout_percent),
        tie_rule=market.tie_rule,
        duration=duration,
        duration_unit=duration_unit,
        idempotency_key=idempotency_key,
        purchased_at=now,
        purchase_seq=market.last_seq,
        expires_at=now + timedelta(minutes=duration) if duration_unit == DurationUnit.MINUTES else None,
    )
    escrow = system_account(kind=AccountKind.ESCROW, realm=account.ledger_account.realm, currency=account.currency)
    try:
        transfer(
            debit=account.ledger_account,
            credit=escrow,
            amount=stake,
            kind=TransferKind.STAKE,
            idempotency_key=f"contract:{contract.pk}:stake",
            reference=f"contract:{contract.pk}",
        )
    except InsufficientFunds:
        account.ledger_account.refresh_from_db(fields=["balance"])
        raise ValidationError(
            {"stake": f"Your balance ({account.ledger_account.balance} {account.currency}) does not cover this stake."}
        ) from None
    audit_log(
        actor=user,
        action="contract.buy",
        target=contract,
        request=request,
        data={
            "market": market.symbol,
            "direction": direction,
            "stake": str(stake),
            "duration": f"{duration}{duration_unit}",
        },
    )
    push_user_state_after_commit([user.pk])
    return contract


@dataclass(frozen=True)
class Buyer:
    """What a bulk purchase needs of a trading account, without loading the model."""

    pk: int
    user_id: int
    type: str
    label: str
    currency: str
    ledger_account_id: int
    realm: str

    @classmethod
    def of(cls, account: TradingAccount) -> "Buyer":
        ledger = account.ledger_account
        return cls(account.pk, account.user_id, account.type, account.label, account.currency, ledger.pk, ledger.realm)


@dataclass(frozen=True)
class Order:
    """One purchase in a bulk buy."""

    account: Buyer
    direction: str
    stake: Decimal
    duration: int
    duration_unit: str
    idempotency_key: str
    note: dict = field(default_factory=dict)  # Added to the audit record.
    # Bots' contracts are followed on the bot's page: no notice per result.
    notify_result: bool = True


def contracts_buy_many(*, market: Market, orders: list[Order]) -> list[int | ValidationError]:
    """Buy many contracts on one market as a set: the same checks and ledger as `contract_buy`.

    For the bots' fan-out, inside the caller's transaction. Returns, per order,
    the contract id, or the ValidationError that refused it (the others still
    go through). An idempotency key already used by that user returns the first
    contract, so a retried fan-out buys nothing twice. Orders from a Deriv
    account are written PENDING and handed to the connection manager after
    commit; a disconnected Deriv account refuses with code UNAVAILABLE.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("contracts_buy_many must run inside a transaction.")
    market = Market.objects.get(pk=market.pk)
    results: list[int | ValidationError | None] = [None] * len(orders)
    existing = dict(
        (((user_id, key), pk))
        for user_id, key, pk in Contract.objects.filter(
            user_id__in={o.account.user_id for o in orders}, idempotency_key__in=[o.idempotency_key for o in orders]
        ).values_list("user_id", "idempotency_key", "id")
    )
    balances = dict(
        LedgerAccount.objects.filter(pk__in={o.account.ledger_account_id for o in orders}).values_list("id", "balance")
    )
    unavailable = deriv_unavailable({o.account.pk for o in orders if is_deriv(o.account)})
    accepted: list[int] = []
    for i, order in enumerate(orders):
        account = order.account
        if (account.user_id, order.idempotency_key) in existing:
            results[i] = existing[(account.user_id, order.idempotency_key)]
            continue
        if order.direction not in _DIRECTIONS:
            results[i] = ValidationError({"direction": "Choose Rise or Fall."})
            continue
        try:
            _validate_order(
                account=account,
                market=market,
                stake=order.stake,
                duration=order.duration,
                duration_unit=order.duration_unit,
                unavailable=unavailable.get(account.pk),
            )
        except ValidationError as error:
            results[i] = error
            continue
        if balances[account.ledger_account_id] < order.stake:
            results[i] = ValidationError(
                {
                    "stake": f"Your balance ({balances[account.ledger_account_id]} {account.currency}) "
                    "does not cover this stake."
                }
            )
            continue
        balances[account.ledger_account_id] -= order.stake
        accepted.append(i)
    if not accepted:
        return results

    now = timezone.now()
    purchased_at = connection.ops.adapt_datetimefield_value(now)
    rows = []
    for i in accepted:
        o = orders[i]
        expires = now + timedelta(minutes=o.duration) if o.duration_unit == DurationUnit.MINUTES else None
        rows.append(
            (
                o.account.user_id,
                o.account.pk,
                market.pk,
                o.direction,
                o.stake,
                market.payout_percent,
                payout_for(stake=o.stake, payout_percent=market.payout_percent),
                market.tie_rule,
                o.duration,
                o.duration_unit,
                o.idempotency_key,
                purchased_at,
                market.last_seq,
                connection.ops.adapt_datetimefield_value(expires),
                Status.PENDING if is_deriv(o.account) else Status.OPEN,
                o.notify_result,
                is_deriv(o.account),
            )
        )
    with connection.cursor() as cursor:
        ids = {
            (user_id, key): pk
            for user_id, key, pk in insert_rows(
                cursor, Contract, _CONTRACT_FIELDS, rows, returning=("user", "idempotency_key", "id")
            )
        }
    escrows: dict[tuple[str, str], int] = {}
    specs, audits = [], []
    for i in accepted:
        o, buyer = orders[i], orders[i].account
        pk = results[i] = ids[(buyer.user_id, o.idempotency_key)]
        book = (buyer.realm, buyer.currency)
        if book not in escrows:
            escrows[book] = system_account(kind=AccountKind.ESCROW, realm=book[0], currency=book[1]).pk
        ref = f"contract:{pk}"
        specs.append(
            TransferSpec(buyer.ledger_account_id, escrows[book], o.stake, TransferKind.STAKE, f"{ref}:stake", ref)
        )
        data = {"market": market.symbol, "direction": o.direction, "stake": str(o.stake)}
        data |= {"duration": f"{o.duration}{o.duration_unit}", **o.note}
        target = f"#{pk} {o.direction.title()} {market.pk} {o.stake}"
        audits.append(
            (purchased_at, buyer.user_id, "contract.buy", "trading.contract", str(pk), target, json.dumps(data))
        )
    transfer_many(specs, return_transfers=False)
    with connection.cursor() as cursor:
        insert_rows(cursor, AuditEvent, _AUDIT_FIELDS, audits)
    push_user_state_after_commit({orders[i].account.user_id for i in accepted})
    at_deriv = [results[i] for i in accepted if is_deriv(orders[i].account)]
    if at_deriv:
        # One `buy` each on the account's Deriv socket, by the connection manager, after commit.
        _deriv_send_after_commit(at_deriv)
    return results


_AUDIT_FIELDS = ("created_at", "actor", "action", "target_type", "target_id", "target_repr", "data")
_CONTRACT_FIELDS = (
    "user",
    "account",
    "market",
    "direction",
    "stake",
    "payout_percent",
    "payout",
    "tie_rule",
    "duration",
    "duration_unit",
    "idempotency_key",
    "purchased_at",
    "purchase_seq",
    "expires_at",
    "status",
    "notify_result",
    "at_deriv",
)


# --- Settlement -------------------------------------------------------------

# Ticks order by market by default, which would join markets_market into
# every lookup; order_by() drops that.
_entry_tick = Tick.objects.filter(market=OuterRef("market"), seq=OuterRef("purchase_seq") + 1).order_by()
_exit_tick_by_count = Tick.objects.filter(
    market=OuterRef("market"), seq=OuterRef("purchase_seq") + 1 + OuterRef("duration")
).order_by()
# Last tick at or before expiry, and after the purchase. The feed writes ticks
# in time order, so the latest time is also the highest seq (which breaks
# ties); ordering by time lets the (market, time) index find it in one step
# instead of walking back over every tick written since expiry.
_exit_tick_by_time = Tick.objects.filter(
    market=OuterRef("market"), seq__gt=OuterRef("purchase_seq"), time__lte=OuterRef("expires_at")
).order_by("-time", "-seq")


def _spot(field: str, name: str) -> dict:
    """Entry and exit expressions of a tick field, for annotate() and update()."""
    return {
        f"entry_{name}": Subquery(_entry_tick.values(field)[:1]),
        f"exit_{name}": Case(
            When(duration_unit=DurationUnit.TICKS, then=Subquery(_exit_tick_by_count.values(field)[:1])),
            default=Subquery(_exit_tick_by_time.values(field)[:1]),
        ),
    }


def outcome(*, direction: str, entry: Decimal | None, exit: Decimal | None, tie_rule: str) -> str:
    """Deriv's rules: Rise wins if exit > entry, Fall if exit < entry; equal follows the tie rule."""
    if entry is None or exit is None:
        return Status.VOID
    if entry == exit:
        return Status.TIE if tie_rule == TieRule.REFUND else Status.LOST
    rose = exit > entry
    return Status.WON if rose == (direction == Direction.RISE) else Status.LOST


_PAID = {
    Status.WON: F("payout"),
    Status.TIE: F("stake"),
    Status.VOID: F("stake"),
    Status.LOST: Value(Decimal("0.00")),
}


def contracts_settle(*, market_ids: list[int] | None = None, limit: int = SETTLE_BATCH) -> list[int]:
    """Settle every due contract as one set: one select, one update per outcome, bulk ledger writes.

    Exactly once: contracts are claimed with a conditional update
    (status=OPEN), under the database's write lock on SQLite and with
    row locks skipping what another worker holds on PostgreSQL. A worker
    that dies before commit leaves everything as it was for the retry.
    """
    with transaction.atomic():
        due = contracts_due(market_ids)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(
            due.annotate(**_spot("price", "price"))
            .order_by("id")
            .values(
                "id",
                "direction",
                "stake",
                "payout",
                "tie_rule",
                "account__currency",
                "account__ledger_account_id",
                "account__ledger_account__realm",
                "user_id",
                "market__name",
                "notify_result",
                "entry_price",
                "exit_price",
            )[:limit]
        )
        if not rows:
            return []
        groups: dict[str, list[dict]] = {s: [] for s in _PAID}
        for row in rows:
            status = outcome(
                direction=row["direction"], entry=row["entry_price"], exit=row["exit_price"], tie_rule=row["tie_rule"]
            )
            groups[status].append(row)

        now = timezone.now()
        for status, group in groups.items():
            ids = [row["id"] for row in group]
            for start in range(0, len(ids), 5000):
                chunk = ids[start : start + 5000]
                updated = Contract.objects.filter(pk__in=chunk, status=Status.OPEN).update(
                    status=status,
                    settled_at=now,
                    amount_paid=_PAID[status],
                    **_spot("price", "spot"),
                    **_spot("time", "time"),
                )
                if updated != len(chunk):
                    raise RuntimeError("Contracts were settled concurrently; rolling back this run.")

        transfer_many(_settlement_transfers(groups), return_transfers=False)
        notifications_create(_settlement_notices(groups))
        contracts_settled.send(
            sender=Contract,
            results=[
                (row["id"], status, row["stake"], _PAID_AMOUNT[status](row))
                for status, group in groups.items()
                for row in group
            ],
        )
    logger.info("settled %d contracts", len(rows))
    return [row["id"] for row in rows]


def _settlement_transfers(groups: dict[str, list[dict]]):
    accounts: dict[tuple[str, str, str], int] = {}

    def system(kind: str, row: dict) -> int:
        book = (kind, row["account__ledger_account__realm"], row["account__currency"])
        if book not in accounts:
            accounts[book] = system_account(kind=kind, realm=book[1], currency=book[2]).pk
        return accounts[book]

    for status, group in groups.items():
        for row in group:
            escrow = system(AccountKind.ESCROW, row)
            user = row["account__ledger_account_id"]
            key, ref = f"contract:{row['id']}", f"contract:{row['id']}"
            if status == Status.LOST:
                house = system(AccountKind.HOUSE, row)
                yield TransferSpec(escrow, house, row["stake"], TransferKind.LOSS, f"{key}:loss", ref)
            elif status == Status.WON:
                house = system(AccountKind.HOUSE, row)
                yield TransferSpec(escrow, user, row["stake"], TransferKind.PAYOUT, f"{key}:return", ref)
                if row["payout"] > row["stake"]:
                    yield TransferSpec(
                        house, user, row["payout"] - row["stake"], TransferKind.PAYOUT, f"{key}:win", ref
                    )
            else:
                yield TransferSpec(escrow, user, row["stake"], TransferKind.REFUND, f"{key}:refund", ref)


_NOTICE = {
    Status.WON: (Kind.CONTRACT_WON, "Won"),
    Status.LOST: (Kind.CONTRACT_LOST, "Lost"),
    Status.TIE: (Kind.CONTRACT_REFUNDED, "Tie, stake refunded"),
    Status.VOID: (Kind.CONTRACT_REFUNDED, "Void, stake refunded"),
}


# Any id works: it is swapped for each contract's own.
_LINK_ID = 987654321


def _settlement_notices(groups: dict[str, list[dict]]):
    # One reverse() per batch: per row it was a third of the notices' cost.
    link = reverse("trading:contract", args=[_LINK_ID]).replace(str(_LINK_ID), "{}")
    for status, group in groups.items():
        kind, verdict = _NOTICE[status]
        for row in group:
            if not row["notify_result"]:
                continue
            paid = _PAID_AMOUNT[status](row)
            yield NewNotification(
                user_id=row["user_id"],
                kind=kind,
                title=f"{verdict}: {row['direction'].title()} on {row['market__name']}",
                body=f"Stake {row['stake']}, paid {paid} ({paid - row['stake']:+}).",
                link=link.format(row["id"]),
            )


_PAID_AMOUNT = {
    Status.WON: lambda row: row["payout"],
    Status.TIE: lambda row: row["stake"],
    Status.VOID: lambda row: row["stake"],
    Status.LOST: lambda row: Decimal("0.00"),
}


def paused_markets_notify() -> int:
    """Tell traders with open contracts on a market whose prices stopped, once per pause."""
    notified = 0
    open_markets = Market.objects.filter(is_active=True, contracts__status=Status.OPEN).distinct()
    for market in open_markets:
        already_told = market.paused_notice_at is not None and (
            market.last_tick_at is None or market.paused_notice_at > market.last_tick_at
        )
        if market.is_fresh or already_told:
            continue
        user_ids = set(Contract.objects.filter(market=market, status=Status.OPEN).values_list("user_id", flat=True))
        with transaction.atomic():
            Market.objects.filter(pk=market.pk).update(paused_notice_at=timezone.now())
            notifications_create(
                NewNotification(
                    user_id=user_id,
                    kind=Kind.MARKET_PAUSED,
                    title=f"Prices paused on {market.name}",
                    body="No new trades there until prices resume; open contracts settle on the next prices.",
                    link=f"{reverse('trading:trade')}?market={market.symbol}",
                )
                for user_id in user_ids
            )
        notified += len(user_ids)
    return notified
