"""Demo data for a fresh installation: the demo markets, a demo trader, an admin and the primary partner.

The primary partner (`partner@nexus.local`, code settings.DEFAULT_PARTNER_CODE,
dangote_fx) is the one sign-ups without a partner's link are attributed to; its
Deriv affiliate token comes from settings (DERIV_AFFILIATE_TOKEN). The default
commission rule (20% of winning profits on Nexus demo money, every market
source, from today) is created when there is no rule at all, also with
--markets-only.

Passwords are random and shown once, when a user is created (or with
--reset-passwords); they are never stored anywhere but as a password hash.
With --markets-only, only the markets: what a production installation runs,
where staff accounts are made with `createsuperuser`, never a demo admin.
"""

import secrets
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.accounts.services import account_open_demo
from apps.ledger.models import Realm
from apps.markets.seed import seed_markets
from apps.revenue.models import CommissionRule, Partner
from apps.revenue.services import partner_code_set, partner_for, referral_attribute

DEMO_TRADER = "demo@nexus.local"
DEMO_ADMIN = "admin@nexus.local"
DEMO_PARTNER = "partner@nexus.local"
PRIMARY_PARTNER_CODE = "dangote_fx"
DEFAULT_COMMISSION = Decimal("20.00")


def new_password() -> str:
    return secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = (
        "Create the demo markets, the default commission rule, a demo trader, an admin and the primary partner "
        "if they are missing. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the demo users new random passwords and print them.",
        )
        parser.add_argument(
            "--markets-only",
            action="store_true",
            help="Create the demo markets (and the default commission rule) only: no demo user.",
        )

    @transaction.atomic
    def handle(self, *args, reset_passwords: bool = False, markets_only: bool = False, **options):
        markets = seed_markets()
        self.stdout.write(f"Markets: {len(markets)} demo markets ready.")
        self._ensure_commission_rule()
        if markets_only:
            return
        # The partner first: the demo trader is attributed to it, as any sign-up without a link is.
        users = (
            (DEMO_PARTNER, "Partner", False, f" (referral code {self._primary_partner_code()}, /referrals/)"),
            (DEMO_TRADER, "Demo trader", False, ""),
            (DEMO_ADMIN, "Admin", True, " (Django admin at /admin/)"),
        )
        for email, role, superuser, where in users:
            user, password = self._ensure_user(email, superuser=superuser, reset_password=reset_passwords)
            if email == DEMO_PARTNER:
                self._ensure_primary_partner(user)
            elif not superuser:
                referral_attribute(user=user)
            if password is not None:
                self.stdout.write(self.style.SUCCESS(f"{role}: {email}  password: {password}{where}"))
            else:
                self.stdout.write(
                    f"{role}: {email} exists; password unchanged (seed_demo --reset-passwords sets a new one)."
                )

    def _ensure_commission_rule(self) -> None:
        if CommissionRule.objects.exists():
            return
        rule = CommissionRule.objects.create(
            realm=Realm.DEMO,
            source="",
            rate=DEFAULT_COMMISSION,
            valid_from=timezone.localdate(),
            note="Default rule created by seed_demo.",
        )
        self.stdout.write(f"Commission: {rule}.")

    @staticmethod
    def _primary_partner_code() -> str:
        return settings.DEFAULT_PARTNER_CODE or PRIMARY_PARTNER_CODE

    def _ensure_primary_partner(self, user) -> Partner:
        """The partner sign-ups without a link go to, with the Deriv affiliate token of the settings."""
        code = self._primary_partner_code()
        partner = Partner.objects.filter(code=code).first()
        if partner is None:
            partner_for(user)
            partner = partner_code_set(user=user, code=code)
        token = settings.DERIV["PARTNER_PARAMS"].get("affiliate_token", "")
        if token and partner.deriv_affiliate_token != token:
            partner.deriv_affiliate_token = token
            partner.save(update_fields=["deriv_affiliate_token"])
        return partner

    def _ensure_user(self, email: str, *, superuser: bool, reset_password: bool):
        User = get_user_model()
        user = User.objects.filter(email=email).first()
        password = None
        if user is None:
            password = new_password()
            if superuser:
                user = User.objects.create_superuser(email, password)
            else:
                user = User.objects.create_user(email, password)
        elif reset_password:
            password = new_password()
            user.set_password(password)
            user.save(update_fields=["password"])

        EmailAddress.objects.filter(user=user).exclude(email=email).update(primary=False)
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        if not user.trading_accounts.filter(type=AccountType.DEMO).exists():
            account_open_demo(user=user)
        return user, password
