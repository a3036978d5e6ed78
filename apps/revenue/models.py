"""What Nexus earns and who brought whom.

Commission: a share of a winning contract's profit, by the rule in force for
its realm (and, optionally, its market source) when it was bought. Partner
markup: a share of the profit of the traders a partner referred, at the
partner's own rate when the contract was bought. Both are recorded on the
contract at purchase and moved through the ledger at settlement
(apps.trading.services.settlement); this app owns the rules, the partners and
the attributions.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from apps.ledger.models import Realm
from apps.markets.models import Source

RATE = {"max_digits": 5, "decimal_places": 2}

COMMISSION_MAX = Decimal("50")
MARKUP_MIN, MARKUP_MAX, MARKUP_DEFAULT = Decimal("5"), Decimal("50"), Decimal("10")

code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{2,29}$",
    "3 to 30 characters: letters, digits, _ and -, starting with a letter or digit.",
)


class CommissionRule(models.Model):
    """The platform's share of winning profits on one realm (and optionally one market source), from a date.

    A rule runs from `valid_from` until `valid_until` (exclusive; open-ended when empty). Two rules
    whose scopes meet (same realm, and the same source or either one for every source) never run
    on the same day, so exactly one rule, or none, is in force for any contract.
    """

    realm = models.CharField(max_length=10, choices=Realm.choices)
    source = models.CharField(
        max_length=10, choices=Source.choices, blank=True, help_text="Empty: markets of every source."
    )
    rate = models.DecimalField(
        **RATE,
        default=Decimal("20.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(COMMISSION_MAX)],
        help_text="Percent of a winning contract's profit, 0 to 50.",
    )
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True, help_text="First day it no longer applies; empty: open.")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["realm", "source", "-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=COMMISSION_MAX), name="commission_rate_range"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="commission_rule_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        scope = self.get_realm_display() + (f" · {self.get_source_display()}" if self.source else "")
        until = f" until {self.valid_until}" if self.valid_until else ""
        return f"{self.rate}% on {scope} from {self.valid_from}{until}"

    def overlapping(self) -> models.QuerySet:
        """Other rules whose scope and days meet this one's."""
        rules = CommissionRule.objects.filter(realm=self.realm).exclude(pk=self.pk)
        if self.source:
            rules = rules.filter(Q(source="") | Q(source=self.source))
        rules = rules.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=self.valid_from))
        if self.valid_until:
            rules = rules.filter(valid_from__lt=self.valid_until)
        return rules

    def clean(self) -> None:
        errors = {}
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = "The end must come after the start."
        elif self.realm and self.valid_from and (clash := self.overlapping().first()):
            errors["valid_from"] = (
                f"Overlaps the rule “{clash}”. End that rule before this one starts, or choose other days."
            )
        if errors:
            raise ValidationError(errors)


class Partner(models.Model):
    """Any user can bring traders: their code, and the markup they take on their traders' profits."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="partner")
    code = models.CharField(
        max_length=30, unique=True, validators=[code_validator], help_text="Lower case; links match it in any case."
    )
    markup_rate = models.DecimalField(
        **RATE,
        default=MARKUP_DEFAULT,
        validators=[MinValueValidator(MARKUP_MIN), MaxValueValidator(MARKUP_MAX)],
        help_text="Percent of referred traders' winning profits, 5 to 50; applies to contracts bought after a change.",
    )
    deriv_affiliate_token = models.CharField(
        max_length=100, blank=True, help_text="Passed to Deriv when a visitor this partner brought signs up there."
    )
    is_active = models.BooleanField(default=True, help_text="A disabled partner's code attributes nobody.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(code=Lower("code")), name="partner_code_lower_case"),
            models.CheckConstraint(
                condition=Q(markup_rate__gte=MARKUP_MIN, markup_rate__lte=MARKUP_MAX), name="partner_markup_range"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Via(models.TextChoices):
    LINK = "LINK", "Partner's link"
    DEFAULT = "DEFAULT", "Default partner"


class Referral(models.Model):
    """Which partner brought a trader: decided once, at sign-up, and never changed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referral")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="referrals")
    via = models.CharField(max_length=8, choices=Via.choices)
    code_used = models.CharField(max_length=60, blank=True, help_text="The code the visitor arrived with, as typed.")
    first_touch_at = models.DateTimeField(null=True, blank=True, help_text="When the visitor first followed the link.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.partner}"
