"""Rates in force at purchase, partners' settings and attributions. Each call is one transaction."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_log
from apps.ledger.models import AccountKind, LedgerAccount
from apps.ledger.services import ledger_account_open, to_money

from .models import MARKUP_MAX, MARKUP_MIN, CommissionRule, Partner, Referral, Via, code_validator
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
    partners = {
        user_id: (partner_id, markup)
        for user_id, partner_id, markup in Referral.objects.filter(
            user_id__in=set(user_ids), partner__is_active=True
        ).values_list("user_id", "partner_id", "partner__markup_rate")
    }
    rates = {}
    for user_id in user_ids:
        partner_id, markup = partners.get(user_id, (None, ZERO))
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
            code = f"partner:{partner_id}:{realm}:{currency}"
            try:
                # A savepoint: a settlement run opening the same account at the same moment wins the insert,
                # this one then reads the account it committed.
                with transaction.atomic():
                    account_id = ledger_account_open(
                        owner_id=owners[partner_id],
                        code=code,
                        name=f"Partner earnings {realm.lower()} {currency}",
                        realm=realm,
                        currency=currency,
                        kind=AccountKind.PARTNER,
                    ).pk
            except IntegrityError:
                account_id = LedgerAccount.objects.get(code=code).pk
            found[(partner_id, realm, currency)] = account_id
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
    return _partner_change(partner_for(user), "markup_rate", rate, action="partner.markup", actor=user, request=request)


def _partner_change(partner: Partner, field: str, value, *, action: str, actor, request) -> Partner:
    """Set one field of a partner under its row lock, audited old → new; nothing when it is unchanged."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    old = getattr(partner, field)
    if value != old:
        setattr(partner, field, value)
        partner.save(update_fields=[field])
        audit_log(
            actor=actor, action=action, target=partner, request=request, data={"old": str(old), "new": str(value)}
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


# ---------------------------------------------------------------- staff: commission rules and partners

_RULE_FIELDS = ("realm", "source", "rate", "valid_from", "valid_until", "note")
# What may still change on a rule in force or past: when it ends, and the note. The rest is history.
_RULE_FIELDS_AFTER_START = {"valid_until", "note"}
affiliate_token_validator = RegexValidator(
    r"^[A-Za-z0-9_-]{0,100}$", "Letters, digits, _ and - only, at most 100 characters (empty: none)."
)


def _plain(value):
    """A rule's value as audit data keeps it: text, with rates to the cent; None stays None."""
    if value is None:
        return None
    return str(value.quantize(ZERO) if isinstance(value, Decimal) else value)


def _rule_values(rule: CommissionRule) -> dict:
    return {name: _plain(getattr(rule, name)) for name in _RULE_FIELDS}


def commission_rule_validate(rule: CommissionRule) -> None:
    """The model's checks (rate 0–50, dates in order, no overlap), then history's.

    A rule that has started (from today or earlier) may have carried contracts: only its end and
    its note change then, and the end is not put before today.
    """
    rule.full_clean()
    stored = CommissionRule.objects.filter(pk=rule.pk).first() if rule.pk else None
    today = timezone.localdate()
    if stored is None or stored.valid_from > today:
        if stored is None and rule.valid_from < today:
            raise ValidationError({"valid_from": "A new rule cannot start in the past: contracts were already priced."})
        return
    errors = {}
    for name in _RULE_FIELDS:
        if name not in _RULE_FIELDS_AFTER_START and getattr(rule, name) != getattr(stored, name):
            errors[name] = "This rule has started: only its end and its note can change. Add a new rule instead."
    if rule.valid_until != stored.valid_until and rule.valid_until is not None and rule.valid_until < today:
        errors["valid_until"] = "A rule in force cannot end in the past: choose today or a later day."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def commission_rule_save(*, rule: CommissionRule, actor, request=None) -> CommissionRule:
    """Add or change a rule (validated as `commission_rule_validate` says) and audit old → new."""
    # Rules of the realm are locked so that two staff saving at once cannot both pass the overlap check.
    list(CommissionRule.objects.select_for_update().filter(realm=rule.realm).values_list("pk", flat=True))
    commission_rule_validate(rule)
    stored = CommissionRule.objects.filter(pk=rule.pk).first() if rule.pk else None
    old = _rule_values(stored) if stored else {}
    rule.save()
    new = _rule_values(rule)
    changed = {name: [old.get(name), new[name]] for name in _RULE_FIELDS if old.get(name) != new[name]}
    if stored is None or changed:
        audit_log(
            actor=actor,
            action="commission_rule.change" if stored else "commission_rule.add",
            target=rule,
            request=request,
            data={"changed": changed},
        )
    return rule


@transaction.atomic
def commission_rule_delete(*, rule: CommissionRule, actor, request=None) -> None:
    """Delete a rule that has not started yet; one in force or past is history (end it instead)."""
    rule = CommissionRule.objects.select_for_update().get(pk=rule.pk)
    if rule.valid_from <= timezone.localdate():
        raise ValidationError(
            "This rule has started, so contracts may carry its rate: it is kept. End it instead (set “valid until”)."
        )
    audit_log(
        actor=actor,
        action="commission_rule.delete",
        target=rule,
        request=request,
        data={"changed": {name: [value, None] for name, value in _rule_values(rule).items()}},
    )
    rule.delete()


@transaction.atomic
def partners_active_set(*, partner_ids, active: bool, actor, request=None) -> int:
    """Enable or disable partners (a disabled partner's code attributes nobody); audited per partner changed."""
    partners = list(
        Partner.objects.select_for_update().filter(pk__in=list(partner_ids)).exclude(is_active=active).order_by("pk")
    )
    for partner in partners:
        partner.is_active = active
        partner.save(update_fields=["is_active"])
        audit_log(
            actor=actor,
            action="partner.enable" if active else "partner.disable",
            target=partner,
            request=request,
            data={"old": not active, "new": active},
        )
    return len(partners)


@transaction.atomic
def partner_affiliate_token_set(*, partner: Partner, token: str, actor, request=None) -> Partner:
    """Set the Deriv affiliate token passed on for the traders this partner brings; empty clears it."""
    token = (token or "").strip()
    affiliate_token_validator(token)
    return _partner_change(
        partner, "deriv_affiliate_token", token, action="partner.affiliate_token", actor=actor, request=request
    )
