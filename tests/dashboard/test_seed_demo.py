import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.models import AccountType
from apps.ledger.models import Realm
from apps.markets.models import Market
from apps.revenue.models import CommissionRule, Partner, Referral
from apps.users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = re.compile(r"^(?P<role>[\w ]+): (?P<email>\S+)  password: (?P<password>\S+)", re.MULTILINE)


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed_passwords(output: str) -> dict[str, str]:
    return {m["email"]: m["password"] for m in PASSWORD.finditer(output)}


def test_creates_the_demo_users_once_and_prints_their_passwords_once():
    first = printed_passwords(seed())
    assert set(first) == {"demo@nexus.local", "admin@nexus.local", "partner@nexus.local"}

    second_output = seed()
    assert printed_passwords(second_output) == {}
    for password in first.values():
        assert password not in second_output

    assert User.objects.filter(email="demo@nexus.local").count() == 1
    assert User.objects.filter(email="admin@nexus.local").count() == 1
    trader = User.objects.get(email="demo@nexus.local")
    admin = User.objects.get(email="admin@nexus.local")
    assert trader.check_password(first["demo@nexus.local"])
    assert admin.check_password(first["admin@nexus.local"])
    assert not trader.is_staff and not trader.is_superuser
    assert admin.is_staff and admin.is_superuser
    assert first["demo@nexus.local"] != first["admin@nexus.local"]


def test_the_trader_has_one_funded_demo_account_and_a_verified_primary_email():
    seed()
    seed()
    trader = User.objects.get(email="demo@nexus.local")
    accounts = list(trader.trading_accounts.all())
    assert len(accounts) == 1
    assert accounts[0].type == AccountType.DEMO
    assert accounts[0].is_selected
    assert accounts[0].balance == Decimal("10000.00")
    assert EmailAddress.objects.filter(user=trader, email=trader.email, verified=True, primary=True).count() == 1
    assert User.objects.get(email="admin@nexus.local").trading_accounts.filter(type=AccountType.DEMO).count() == 1


def test_seeds_the_demo_markets():
    seed()
    assert Market.objects.filter(symbol="OTC_EUR_USD").exists()


def test_reset_passwords_prints_new_working_passwords():
    first = printed_passwords(seed())
    reset = printed_passwords(seed("--reset-passwords"))
    assert set(reset) == set(first)
    for email, password in reset.items():
        assert password != first[email]
        user = User.objects.get(email=email)
        assert user.check_password(password)
        assert not user.check_password(first[email])
    assert User.objects.filter(email__endswith="@nexus.local").count() == 3


def test_markets_only_creates_no_user():
    output = seed("--markets-only")

    assert Market.objects.exists()
    assert not User.objects.exists()
    assert printed_passwords(output) == {}
    assert CommissionRule.objects.count() == 1


def test_seeds_the_primary_partner_with_the_deriv_token_and_attributes_the_demo_trader(settings):
    settings.DEFAULT_PARTNER_CODE = "dangote_fx"
    settings.DERIV = {
        **settings.DERIV,
        "PARTNER_PARAMS": {**settings.DERIV["PARTNER_PARAMS"], "affiliate_token": "tok"},
    }
    output = seed()
    assert "Partner: partner@nexus.local  password: " in output and "(referral code dangote_fx, /referrals/)" in output
    seed()

    partner = Partner.objects.get()
    assert (partner.code, partner.user.email, partner.deriv_affiliate_token) == (
        "dangote_fx",
        "partner@nexus.local",
        "tok",
    )
    assert partner.is_active and partner.markup_rate == Decimal("10.00")
    trader = User.objects.get(email="demo@nexus.local")
    assert trader.referral.partner == partner
    assert not Referral.objects.filter(user__email__in=["admin@nexus.local", "partner@nexus.local"]).exists()


def test_seeds_the_default_commission_rule_once_and_only_without_any_rule():
    seed()
    seed()
    rule = CommissionRule.objects.get()
    assert (rule.realm, rule.source, rule.rate, rule.valid_from, rule.valid_until) == (
        Realm.DEMO,
        "",
        Decimal("20.00"),
        timezone.localdate(),
        None,
    )


def test_keeps_an_existing_commission_rule():
    CommissionRule.objects.create(realm=Realm.REAL, rate=Decimal("15.00"), valid_from=timezone.localdate())
    seed()
    assert list(CommissionRule.objects.values_list("realm", "rate")) == [(Realm.REAL, Decimal("15.00"))]


def test_the_compose_file_creates_demo_users_only_when_asked():
    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    command = compose.split("  migrate:", 1)[1].split("depends_on:", 1)[0]

    assert 'if [ "${SEED_DEMO:-off}" = on ]; then python manage.py seed_demo;' in command
    assert "else python manage.py seed_demo --markets-only; fi" in command
    assert command.count("seed_demo") == 2
