"""Rates in force at purchase, partners' settings and attributions. Each call is one transaction."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_log
from apps.ledger.models import AccountKind, LedgerAccount
from apps.ledger.services import ledger_account_open, to_money

from .models import MARKUP_MAX, MARKUP_MIN, Partner, Referral, Via, code_validator
from .selectors import commission_rule_in_force, partner_by_code

ZERO = Decimal("0.00")
# A partner's link counts for this long after the visitor first followed it.
FIRST_TOUCH_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Rates:
    """The shares of a winning profit a contract carries, fixed when it is bought."""

    commission_rate: Decimal = ZERO
    markup_rate: Decimal = ZERO
    partner_id: int | None = None

    def on_win(self, *, stake: Decimal, payout: Decimal) -> tuple[Decimal, Decimal]:
        """(commission, markup) taken from a win: shares of its profit, each rounded down to the cent."""
        profit = payout - stake
        if profit <= 0:
            return ZERO, ZERO
        return to_money(profit * self.commission_rate / 100), to_money(profit * self.markup_rate / 100)


NO_FEES = Rates()


def rates_in_force(*, user_ids, realm: str, source: str) -> dict[int, Rates]:
    """The rates contracts bought now by these traders, on this realm and market source, carry.

    Two queries whatever the number of traders: the commission rule, and the traders' active partners.
    """
    rule = commission_rule_in_force(realm=realm, source=source)
    commission = rule.rate if rule else ZERO
    partners = dict(
        Referral.objects.filter(user_id__in=set(user_ids), partner__is_active=True).values_list("user_id", "partner_id")
    )
    markups = dict(Partner.objects.filter(pk__in=set(partners.values())).values_list("pk", "markup_rate"))
    rates = {}
    for user_id in user_ids:
        partner_id = partners.get(user_id)
        markup = markups.get(partner_id, ZERO)
        rates[user_id] = Rates(commission, markup, partner_id) if commission or markup else NO_FEES
    return rates


def partner_earnings_accounts(books) -> dict[tuple[int, str, str], int]:
    """The ledger account holding each (partner id, realm, currency)'s markup, opened on first use; ids by book."""
    books = set(books)
    codes = {f"partner:{pk}:{realm}:{currency}": (pk, realm, currency) for pk, realm, currency in books}
    found = {codes[code]: pk for code, pk in LedgerAccount.objects.filter(code__in=codes).values_list("code", "id")}
    missing = books - found.keys()
    if missing:
        owners = dict(Partner.objects.filter(pk__in={b[0] for b in missing}).values_list("pk", "user_id"))
        for partner_id, realm, currency in sorted(missing):
            account = ledger_account_open(
                owner_id=owners[partner_id],
                code=f"partner:{partner_id}:{realm}:{currency}",
                name=f"Partner earnings {realm.lower()} {currency}",
                realm=realm,
                currency=currency,
                kind=AccountKind.PARTNER,
            )
            found[(partner_id, realm, currency)] = account.pk
    return found


# Letters and digits that cannot be mistaken for each other when read aloud or copied by hand.
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def partner_for(user) -> Partner:
    """The user's partner profile, created with a fresh code on first use."""
    partner = Partner.objects.filter(user=user).first()
    if partner is not None:
        return partner
    for _ in range(10):
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                return Partner.objects.create(user=user, code=code)
        except IntegrityError:
            partner = Partner.objects.filter(user=user).first()
            if partner is not None:  # created concurrently
                return partner
    raise RuntimeError("Could not find a free referral code.")


def parse_markup(value) -> Decimal:
    """A markup percent from a form or the admin; ValidationError in a partner's words."""
    try:
        rate = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        raise ValidationError("Enter the markup as a number, for example 10 or 12.5.") from None
    if not rate.is_finite() or rate != rate.quantize(Decimal("0.01")):
        raise ValidationError("Enter the markup as a number with at most two decimals.")
    if not MARKUP_MIN <= rate <= MARKUP_MAX:
        raise ValidationError(f"The markup is between {MARKUP_MIN}% and {MARKUP_MAX}% of your traders' profits.")
    return rate


@transaction.atomic
def partner_markup_set(*, user, markup, request=None) -> Partner:
    """Change the user's markup: contracts bought from now on carry it; open ones keep theirs."""
    rate = parse_markup(markup)
    partner = Partner.objects.select_for_update().get(pk=partner_for(user).pk)
    old = partner.markup_rate
    if rate != old:
        partner.markup_rate = rate
        partner.save(update_fields=["markup_rate"])
        audit_log(
            actor=user,
            action="partner.markup",
            target=partner,
            request=request,
            data={"old": str(old), "new": str(rate)},
        )
    return partner


@transaction.atomic
def partner_code_set(*, user, code: str, request=None) -> Partner:
    """Choose another referral code: unique whatever the case; links with the old code stop attributing."""
    code = (code or "").strip().lower()
    code_validator(code)
    partner = Partner.objects.select_for_update().get(pk=partner_for(user).pk)
    if code == partner.code:
        return partner
    if Partner.objects.filter(code=code).exclude(pk=partner.pk).exists():
        raise ValidationError("This code is taken. Choose another one.")
    old = partner.code
    partner.code = code
    try:
        with transaction.atomic():
            partner.save(update_fields=["code"])
    except IntegrityError:
        raise ValidationError("This code is taken. Choose another one.") from None
    audit_log(actor=user, action="partner.code", target=partner, request=request, data={"old": old, "new": code})
    return partner


def _mailbox(email: str) -> str:
    """One person's mailbox behind the spellings of an address (case, +tags, and Gmail's dots)."""
    local, _, domain = (email or "").strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _is_self_referral(partner: Partner, user) -> bool:
    if partner.user_id == user.pk:
        return True
    theirs = {_mailbox(partner.user.email)} | {
        _mailbox(e) for e in partner.user.emailaddress_set.values_list("email", flat=True)
    }
    ours = {_mailbox(user.email)} | {_mailbox(e) for e in user.emailaddress_set.values_list("email", flat=True)}
    return bool(theirs & ours)


@dataclass(frozen=True)
class Attribution:
    referral: Referral | None
    # Why the code the visitor brought was not used, in their words ("" when it was, or there was none).
    message: str = ""


@transaction.atomic
def referral_attribute(*, user, code: str = "", touched_at: datetime | None = None, request=None) -> Attribution:
    """Attribute a new trader to the partner whose link they followed, else to the default partner.

    Once and for good: a trader already attributed keeps their partner (the answer is the existing
    referral). A code older than FIRST_TOUCH_WINDOW, unknown, disabled or the trader's own falls back
    to settings.DEFAULT_PARTNER_CODE (empty: nobody) and says why.
    """
    existing = Referral.objects.filter(user=user).select_related("partner").first()
    if existing is not None:
        return Attribution(existing)
    code = (code or "").strip()[:60]
    partner, message, via = None, "", Via.DEFAULT
    if code:
        if touched_at is not None and timezone.now() - touched_at > FIRST_TOUCH_WINDOW:
            message = f"The referral link with code “{code}” is more than 30 days old, so it no longer counts."
        elif (found := partner_by_code(code)) is None:
            message = f"The referral code “{code}” is not valid, so your sign-up is not attributed to it."
        elif _is_self_referral(found, user):
            message = "You cannot sign up through your own referral link."
        else:
            partner, via = found, Via.LINK
    if partner is None:
        default = partner_by_code(settings.DEFAULT_PARTNER_CODE)
        if default is not None and not _is_self_referral(default, user):
            partner = default
    if partner is None:
        return Attribution(None, message)
    referral = Referral.objects.create(
        user=user,
        partner=partner,
        via=via,
        code_used=code,
        first_touch_at=touched_at if via == Via.LINK else None,
    )
    audit_log(
        actor=user,
        action="referral.attribute",
        target=referral,
        request=request,
        data={"partner": partner.code, "via": via, "code_used": code, "refused": message},
    )
    return Attribution(referral, message)
