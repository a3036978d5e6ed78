"""Demo data for a fresh installation: the demo markets, a demo trader and an admin.

Passwords are random and shown once, when a user is created (or with
--reset-passwords); they are never stored anywhere but as a password hash.
With --markets-only, only the markets: what a production installation runs,
where staff accounts are made with `createsuperuser`, never a demo admin.
"""

import secrets

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import AccountType
from apps.accounts.services import account_open_demo
from apps.markets.seed import seed_markets

DEMO_TRADER = "demo@nexus.local"
DEMO_ADMIN = "admin@nexus.local"


def new_password() -> str:
    return secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = "Create the demo markets, a demo trader and an admin if they are missing. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give both demo users new random passwords and print them.",
        )
        parser.add_argument(
            "--markets-only",
            action="store_true",
            help="Create the demo markets only: no demo trader, no admin.",
        )

    @transaction.atomic
    def handle(self, *args, reset_passwords: bool = False, markets_only: bool = False, **options):
        markets = seed_markets()
        self.stdout.write(f"Markets: {len(markets)} demo markets ready.")
        if markets_only:
            return
        for email, role, superuser in ((DEMO_TRADER, "Demo trader", False), (DEMO_ADMIN, "Admin", True)):
            user, password = self._ensure_user(email, superuser=superuser, reset_password=reset_passwords)
            where = " (Django admin at /admin/)" if superuser else ""
            if password is not None:
                self.stdout.write(self.style.SUCCESS(f"{role}: {email}  password: {password}{where}"))
            else:
                self.stdout.write(
                    f"{role}: {email} exists; password unchanged (seed_demo --reset-passwords sets a new one)."
                )

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
