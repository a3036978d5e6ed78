"""Ledger invariants, checked by `manage.py ledger_check` and after every test.

Other apps add their own money invariants by answering `ledger_checked`
(each receiver returns its breaches), so the ledger imports no other app.
"""

from collections import defaultdict
from decimal import Decimal

from django.db.models import BigIntegerField, Count, F, Q, Sum
from django.db.models.functions import Cast, Round

from .models import Entry, LedgerAccount, Transfer, scaled
from .signals import ledger_checked

UNITS = 10**8


def _money(value) -> Decimal:
    # At the ledger's scale: SQLite sums are binary floats, good to far better than 1e-8 here.
    return scaled(Decimal(value or 0).quantize(Decimal("0.00000001")))


def ledger_breaches() -> list[str]:
    breaches: list[str] = []

    # Every transfer is exactly two entries: -amount on the debit, +amount on the credit.
    rows = Transfer.objects.annotate(
        n=Count("entries"),
        d=Sum("entries__amount", filter=Q(entries__account=F("debit"))),
        c=Sum("entries__amount", filter=Q(entries__account=F("credit"))),
    ).values_list("idempotency_key", "amount", "n", "d", "c")
    for key, amount, n, debit_sum, credit_sum in rows.iterator(chunk_size=5000):
        if n != 2 or _money(debit_sum) != -_money(amount) or _money(credit_sum) != _money(amount):
            breaches.append(f"transfer {key}: entries do not match its amount {amount}")

    # Cached balances equal the sum of their entries; nobody who may not is below zero.
    # Summed as whole units of 1e-8: SQLite adds decimals as binary floats, which drift on long accounts.
    units = Cast(Round(F("amount") * UNITS), output_field=BigIntegerField())
    sums = {
        row["account"]: scaled(Decimal(row["s"]) / UNITS)
        for row in Entry.objects.values("account").annotate(s=Sum(units)).order_by()
    }
    per_book: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for account in LedgerAccount.objects.all():
        balance = _money(account.balance)
        if balance != sums.get(account.pk, Decimal("0.00")):
            breaches.append(
                f"account {account.code}: cached balance {balance} != sum of entries {sums.get(account.pk, 0)}"
            )
        if balance < 0 and not account.allow_negative:
            breaches.append(f"account {account.code} is negative: {balance}")
        per_book[(account.realm, account.currency)] += balance

    # Money is conserved: within each realm and currency all balances sum to zero.
    for (realm, currency), total in sorted(per_book.items()):
        if total != 0:
            breaches.append(f"{realm} {currency} is not conserved: balances sum to {total}")

    # Transfers never cross currencies or realms.
    crossing = Transfer.objects.exclude(debit__currency=F("credit__currency"), debit__realm=F("credit__realm")).count()
    if crossing:
        breaches.append(f"{crossing} transfers cross a currency or realm")

    # `send`, not `send_robust`: a check that cannot run must fail loudly, never pass.
    for _receiver, found in ledger_checked.send(sender=Transfer):
        breaches += found
    return breaches
