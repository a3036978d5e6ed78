"""Two-factor authentication: anyone may set it up; staff need it, through allauth, before any admin page."""

from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.users.models import User
from tests.support.mfa import sign_in, totp_activate, totp_code

PASSWORD = "correct horse battery staple"
ADMIN = reverse("admin:index")


def to(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


@pytest.fixture
def staff(db):
    staff = User.objects.create_user("staff@example.com", PASSWORD, is_staff=True, is_superuser=True)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    return staff


def test_the_admin_login_page_forwards_to_allauths_sign_in(client, db):
    response = client.get(reverse("admin:login") + "?next=/admin/markets/market/")

    assert response.status_code == 302
    assert response["Location"] == to("account_login", "/admin/markets/market/")


def test_the_admin_login_page_never_forwards_off_site(client, db):
    response = client.get(reverse("admin:login") + "?next=https://evil.example/")

    assert response["Location"] == to("account_login", ADMIN)


def test_an_anonymous_visitor_is_sent_to_allauths_sign_in(client, db):
    response = client.get(reverse("admin:markets_market_changelist"))

    assert response["Location"] == to("account_login", reverse("admin:markets_market_changelist"))


def test_posting_passwords_to_the_admin_login_authenticates_nothing_and_audits_nothing(client, staff):
    for _ in range(20):
        response = client.post(reverse("admin:login"), {"username": staff.email, "password": "wrong"})
        assert response.status_code == 302
    response = client.post(reverse("admin:login"), {"username": staff.email, "password": PASSWORD})

    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action__startswith="user.login").exists()


def test_failed_sign_ins_for_the_admin_stop_growing_the_audit_table(client, staff):
    for i in range(30):
        client.post(to("account_login", ADMIN), {"login": staff.email, "password": f"wrong-{i}"})

    # allauth's limits (5 failures per account in 5 minutes) refuse the rest before any password check.
    assert AuditEvent.objects.filter(action="user.login_failed").count() == 5


def test_staff_without_two_factor_are_sent_to_set_it_up(client, staff):
    sign_in(client, staff, mfa=False)

    response = client.get(reverse("admin:markets_market_changelist"))

    assert response.status_code == 302
    assert response["Location"] == to("mfa_activate_totp", reverse("admin:markets_market_changelist"))
    page = client.get(response["Location"], follow=True)
    assert page.status_code == 200
    assert "Staff accounts need two-factor authentication" in page.content.decode()


def test_staff_with_two_factor_who_skipped_it_this_session_are_asked_for_a_code(client, staff):
    totp_activate(staff)
    sign_in(client, staff, mfa=False)

    response = client.get(ADMIN)

    assert response["Location"] == to("mfa_reauthenticate", ADMIN)


def test_staff_who_passed_the_second_factor_reach_the_admin(client, staff):
    sign_in(client, staff, mfa=True)

    assert client.get(ADMIN).status_code == 200
    assert client.get(reverse("admin:login")).headers["Location"] == ADMIN


def test_a_code_on_reauthentication_opens_the_admin(client, staff):
    _, secret = totp_activate(staff)
    sign_in(client, staff, mfa=False)

    response = client.post(to("mfa_reauthenticate", ADMIN), {"code": totp_code(secret)})

    assert response.status_code == 302 and response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_signing_in_through_allauth_asks_for_the_code_before_the_admin_opens(client, staff):
    _, secret = totp_activate(staff)

    response = client.post(to("account_login", ADMIN), {"login": staff.email, "password": PASSWORD})
    assert response["Location"].startswith(reverse("mfa_authenticate"))
    # The password alone signs nobody in.
    assert client.get(ADMIN)["Location"] == to("account_login", ADMIN)

    response = client.post(
        reverse("mfa_authenticate"), {"code": "000000" if totp_code(secret) != "000000" else "111111"}
    )
    assert client.get(ADMIN).status_code == 302

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_a_trader_is_refused_the_admin(client, user):
    sign_in(client, user, mfa=True)

    assert client.get(ADMIN).status_code == 403


def test_any_user_can_set_up_an_authenticator_app(client, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    sign_in(client, user, mfa=False)
    # Changing one's second factor asks for the password again (allauth's reauthentication).
    assert client.get(reverse("mfa_activate_totp")).status_code == 302
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})

    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})

    assert response.status_code == 302
    assert user.authenticator_set.filter(type="totp").exists()


def test_a_staff_member_without_two_factor_sets_it_up_and_reaches_the_admin(transactional_db, client, staff):
    """The whole path through allauth's pages, from the password to the admin.

    Transactional: allauth announces a new authenticator when its transaction
    commits, inside the request, as in production.
    """
    response = client.post(to("account_login", ADMIN), {"login": staff.email, "password": PASSWORD})
    assert response["Location"] == ADMIN

    assert client.get(ADMIN)["Location"] == to("mfa_activate_totp", ADMIN)
    # Setting up a second factor asks for the password again.
    assert client.get(reverse("mfa_activate_totp"))["Location"].startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302

    # The code typed to activate the app counts for this session: no second code is asked for.
    assert client.get(ADMIN).status_code == 200
    assert AuditEvent.objects.filter(action="user.mfa_added", actor=staff).exists()
