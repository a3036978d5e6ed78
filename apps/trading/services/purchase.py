"""Buying Rise/Fall contracts. Every money movement goes through the ledger.

Nexus demo accounts trade the OTC markets, settled from our own ticks
(settlement.py). Deriv accounts trade the Deriv markets through the same
`contract_buy` and `contracts_buy_many`: the stake is mirrored into escrow and
the contract is PENDING until the venue has bought it; it is settled from the
venue's result (venue.py), never by `contracts_settle`.

Trading knows no venue: whether an account can trade now is asked with
`account_refusals_requested`, and PENDING orders are handed over by whoever
listens to `contracts_bought` (the Deriv app's receivers).
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import AccountType, TradingAccount
from apps.audit.models import AuditEvent
from apps.audit.services import audit_log
from apps.common.bulk import insert_rows
from apps.common.events import send_after_commit
from apps.common.money import fees_text, money_text
from apps.ledger.models import AccountKind, TransferKind
from apps.ledger.services import (
    InsufficientFunds,
    TransferSpec,
    ledger_accounts_lock,
    system_account,
    to_money,
    transfer,
    transfer_many,
)
from apps.markets.models import Market, Source
from apps.revenue.services import NO_FEES, Rates, rates_in_force

from ..limits import allowances, trading_refusal
from ..models import Contract, Direction, DurationUnit, Status, duration_error
from ..selectors import account_refusals
from ..signals import contracts_bought

logger = logging.getLogger(__name__)

# Enum .values builds a new list on every call: bulk purchases check thousands of orders.
_DIRECTIONS = frozenset(Direction.values)


def payout_for(*, stake: Decimal, payout_percent: Decimal) -> Decimal:
    """What a winning contract pays back, stake included, rounded down to the cent."""
    return to_money(stake * (1 + payout_percent / 100))


@dataclass(frozen=True)
class WinTerms:
    """What a win of this stake pays, and what it carries: the order form's preview and the contract's terms."""

    stake: Decimal
    payout: Decimal
    commission: Decimal
    markup: Decimal

    @property
    def net_profit(self) -> Decimal:
        return self.payout - self.stake - self.commission - self.markup

    @property
    def fees(self) -> str:
        return fees_text(commission=self.commission, markup=self.markup)


def win_terms(*, account: TradingAccount, market: Market, stake: Decimal) -> WinTerms:
    """The terms a contract bought now by `account` on `market` would get, commission and markup included."""
    payout = payout_for(stake=stake, payout_percent=market.payout_percent)
    commission, markup = _rates(market=market, buyers=[account])[account.pk].on_win(stake=stake, payout=payout)
    return WinTerms(stake, payout, commission, markup)


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


def market_refusal(
    *, account: "TradingAccount | Buyer", market: Market, check_prices: bool = True, unavailable: str | None = None
) -> str | None:
    """Why `account` cannot trade on `market` now, in a trader's words, or None.

    Nexus demo accounts trade OTC markets; Deriv accounts trade Deriv markets,
    while their connection to Deriv is up (`unavailable`: the reason it is not,
    asked with `account_refusals` when not given).
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
            unavailable = account_refusals(account_ids=[account.pk]).get(account.pk)
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
        unavailable = account_refusals(account_ids=[account.pk]).get(account.pk)
    if unavailable:
        errors["market"] = ValidationError(unavailable, code=UNAVAILABLE)
    elif refusal := market_refusal(account=account, market=market, unavailable=""):
        errors["market"] = refusal
    if stake != stake.quantize(Decimal("0.01")):
        errors["stake"] = "Enter a stake with at most two decimal places."
    elif stake < market.min_stake:
        errors["stake"] = f"The minimum stake on {market.name} is {market.min_stake} {account.currency}."
    elif stake > market.max_stake:
        errors["stake"] = f"The maximum stake on {market.name} is {market.max_stake} {account.currency}."
    if message := duration_error(duration, duration_unit):
        errors["duration"] = message
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

    On a Deriv account the contract is PENDING until Deriv answers. Outside a
    transaction this waits for the answer (the receivers of `contracts_bought`,
    sent with `wait`, hand the order over before returning): Deriv refusing
    raises a ValidationError with Deriv's reason (the stake is back); no
    answer in time leaves it PENDING (the venue finishes it either way) or,
    if the order never left, refused. Inside a transaction the order is
    handed over once it commits, without waiting.
    """
    if account.user_id != user.pk:
        raise PermissionDenied("Not this user's account.")
    if direction not in _DIRECTIONS:
        raise ValidationError({"direction": "Choose Rise or Fall."})
    wait = not transaction.get_connection().in_atomic_block
    contract, bought = _contract_buy_once(
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
    # A repeated request finds its order still unsent when the first one gave up before handing it over.
    unsent = contract.at_deriv and contract.status == Status.PENDING and contract.deriv_sent_at is None
    if bought or unsent:
        # After commit: a venue reads the order from the database. Outside a transaction that is now.
        send_after_commit(
            contracts_bought,
            sender=Contract,
            contract_ids=[contract.pk],
            pending_ids=[contract.pk] if contract.status == Status.PENDING else [],
            user_ids=[user.pk],
            wait=wait,
        )
    if unsent and wait:
        contract.refresh_from_db()
        if contract.status == Status.REFUSED:
            raise ValidationError(contract.deriv_note or "Deriv did not take the order. Your stake is back.")
    return contract


def _contract_buy_once(*, user, account, market, stake, idempotency_key, **order) -> tuple[Contract, bool]:
    """The contract, and whether this call bought it (False: the key's first contract).

    What the purchase needs but does not decide on is read before its
    transaction, outside the write lock (SQLite) and the escrow's row lock
    (PostgreSQL): the escrow account and the fee rates in force. An
    idempotency key already used is found by the contract's unique
    constraint, not by a look-up first: a repeated request fails to insert
    (or is refused by a check the first contract now fails, such as its own
    stake on the balance) and returns the first contract.
    """
    escrow = system_account(kind=AccountKind.ESCROW, realm=account.ledger_account.realm, currency=account.currency)
    rates = _rates(market=market, buyers=[account])[account.pk]
    try:
        return _contract_buy(
            user=user,
            account=account,
            market=market,
            stake=stake,
            idempotency_key=idempotency_key,
            escrow=escrow,
            rates=rates,
            **order,
        ), True
    except (IntegrityError, ValidationError):
        # The key's first contract, if any (a concurrent request with it may have just won the race).
        existing = Contract.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def _contract_buy(
    *, user, account, market, direction, stake, duration, duration_unit, idempotency_key, request, escrow, rates
) -> Contract:
    # Re-read inside the transaction: the admin may have just changed the
    # market, and the entry spot must be the first tick after this moment.
    market = Market.objects.get(pk=market.pk)
    _validate_order(account=account, market=market, stake=stake, duration=duration, duration_unit=duration_unit)
    if refusal := trading_refusal(user=user, stake=stake):
        raise refusal
    now = timezone.now()
    at_deriv = is_deriv(account)
    payout = payout_for(stake=stake, payout_percent=market.payout_percent)
    commission, markup = rates.on_win(stake=stake, payout=payout)
    contract = Contract.objects.create(
        at_deriv=at_deriv,
        status=Status.PENDING if at_deriv else Status.OPEN,
        user=user,
        account=account,
        market=market,
        direction=direction,
        stake=stake,
        payout_percent=market.payout_percent,
        payout=payout,
        commission_rate=rates.commission_rate,
        markup_rate=rates.markup_rate,
        partner_id=rates.partner_id,
        commission=commission,
        markup=markup,
        tie_rule=market.tie_rule,
        duration=duration,
        duration_unit=duration_unit,
        idempotency_key=idempotency_key,
        purchased_at=now,
        purchase_seq=market.last_seq,
        expires_at=now + timedelta(minutes=duration) if duration_unit == DurationUnit.MINUTES else None,
    )
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
    # Last: the transfer writes the balances, and every purchase writes the
    # same escrow, so its row stays locked (PostgreSQL) only until the commit that follows.
    try:
        transfer(
            debit=account.ledger_account,
            credit=escrow,
            amount=stake,
            kind=TransferKind.STAKE,
            idempotency_key=f"contract:{contract.pk}:stake",
            reference=f"contract:{contract.pk}",
            new_key=True,
        )
    except InsufficientFunds:
        account.ledger_account.refresh_from_db(fields=["balance"])
        raise ValidationError(
            {
                "stake": f"Your balance ({money_text(account.ledger_account.balance)} {account.currency}) "
                "does not cover this stake."
            }
        ) from None
    return contract


def _rates(*, market: Market, buyers) -> dict[int, Rates]:
    """The commission and markup rates each buyer's contracts carry, by trading account id.

    Only contracts Nexus settles itself carry them: Deriv settles its own with its own money.
    """
    rates = {}
    books: dict[str, list] = {}
    for buyer in buyers:
        if is_deriv(buyer):
            rates[buyer.pk] = NO_FEES
        else:
            books.setdefault(_realm(buyer), []).append(buyer)
    for realm, group in books.items():
        by_user = rates_in_force(user_ids={b.user_id for b in group}, realm=realm, source=market.source)
        rates |= {b.pk: by_user[b.user_id] for b in group}
    return rates


def _realm(buyer: "TradingAccount | Buyer") -> str:
    return buyer.realm if isinstance(buyer, Buyer) else buyer.ledger_account.realm


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
    go through: balances are read under lock once the orders are validated, so
    an account that cannot pay refuses its own orders and nobody else's, and
    the stakes' transfers cannot fail). An idempotency key already used by that
    user returns the first contract, so a retried fan-out buys nothing twice. Orders from a Deriv
    account are written PENDING and handed to Deriv after commit (by the
    receivers of `contracts_bought`); a disconnected Deriv account refuses with
    code UNAVAILABLE.
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
    unavailable = account_refusals(account_ids={o.account.pk for o in orders if is_deriv(o.account)})
    allowed = allowances(user_ids={o.account.user_id for o in orders})
    valid: list[int] = []
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
        if account.user_id in allowed and (refusal := allowed[account.user_id].take(order.stake)):
            results[i] = refusal
            continue
        valid.append(i)
    if not valid:
        return results

    escrows: dict[tuple[str, str], int] = {}
    for i in valid:
        book = (orders[i].account.realm, orders[i].account.currency)
        if book not in escrows:
            escrows[book] = system_account(kind=AccountKind.ESCROW, realm=book[0], currency=book[1]).pk
    # Read under lock, every account the stakes will move (the ledger's lock order): a purchase
    # elsewhere cannot spend a balance between this check and the transfers, so they cannot fail,
    # and an account that cannot pay refuses its own orders only.
    balances = ledger_accounts_lock(ids=[*escrows.values(), *(orders[i].account.ledger_account_id for i in valid)])
    accepted: list[int] = []
    for i in valid:
        account, stake = orders[i].account, orders[i].stake
        if balances[account.ledger_account_id] < stake:
            results[i] = ValidationError(
                {
                    "stake": f"Your balance ({money_text(balances[account.ledger_account_id])} {account.currency}) "
                    "does not cover this stake."
                }
            )
            continue
        balances[account.ledger_account_id] -= stake
        accepted.append(i)
    if not accepted:
        return results

    now = timezone.now()
    purchased_at = connection.ops.adapt_datetimefield_value(now)
    rates = _rates(market=market, buyers={orders[i].account for i in accepted})
    rows = []
    for i in accepted:
        o = orders[i]
        expires = now + timedelta(minutes=o.duration) if o.duration_unit == DurationUnit.MINUTES else None
        payout = payout_for(stake=o.stake, payout_percent=market.payout_percent)
        fees = rates[o.account.pk]
        rows.append(
            (
                o.account.user_id,
                o.account.pk,
                market.pk,
                o.direction,
                o.stake,
                market.payout_percent,
                payout,
                fees.commission_rate,
                fees.markup_rate,
                fees.partner_id,
                *fees.on_win(stake=o.stake, payout=payout),
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
    specs, audits = [], []
    for i in accepted:
        o, buyer = orders[i], orders[i].account
        pk = results[i] = ids[(buyer.user_id, o.idempotency_key)]
        ref = f"contract:{pk}"
        escrow = escrows[(buyer.realm, buyer.currency)]
        specs.append(TransferSpec(buyer.ledger_account_id, escrow, o.stake, TransferKind.STAKE, f"{ref}:stake", ref))
        data = {"market": market.symbol, "direction": o.direction, "stake": str(o.stake)}
        data |= {"duration": f"{o.duration}{o.duration_unit}", **o.note}
        target = f"#{pk} {o.direction.title()} {market.pk} {o.stake}"
        audits.append(
            (purchased_at, buyer.user_id, "contract.buy", "trading.contract", str(pk), target, json.dumps(data))
        )
    transfer_many(specs, return_transfers=False)
    with connection.cursor() as cursor:
        insert_rows(cursor, AuditEvent, _AUDIT_FIELDS, audits)
    # After the caller's commit; a venue takes its PENDING orders from these without making the caller wait.
    send_after_commit(
        contracts_bought,
        sender=Contract,
        contract_ids=[results[i] for i in accepted],
        pending_ids=[results[i] for i in accepted if is_deriv(orders[i].account)],
        user_ids=sorted({orders[i].account.user_id for i in accepted}),
        wait=False,
    )
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
    "commission_rate",
    "markup_rate",
    "partner",
    "commission",
    "markup",
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
