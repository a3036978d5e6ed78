"""A partner's link, kept in a signed cookie from the first visit, attributes the sign-up (email or Deriv)."""

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.revenue.middleware import COOKIE_NAME, COOKIE_SALT, referral_touch
from apps.revenue.models import Partner, Referral, Via
from apps.revenue.services import partner_code_set, partner_for, referral_attribute
from apps.users.models import User
from tests.deriv.conftest import deriv_on_fixture  # noqa: F401
from tests.deriv.test_oauth import at_deriv, callback, complete_sign_up, query, start
from tests.fakes.deriv.fixtures import fake_deriv_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def make_partner(email: str, code: str, **fields) -> Partner:
    user = User.objects.create_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    partner_for(user)
    partner = partner_code_set(user=user, code=code)
    if fields:
        Partner.objects.filter(pk=partner.pk).update(**fields)
        partner.refresh_from_db()
    return partner


@pytest.fixture
def default_partner(settings):
    settings.DEFAULT_PARTNER_CODE = "dangote_fx"
    return make_partner("partner@nexus.local", "dangote_fx", deriv_affiliate_token="dangote-token")


@pytest.fixture
def alice(default_partner):
    return make_partner("alice@example.com", "alice_fx")


def sign_up(client, email="new.trader@example.com"):
    """The sign-up form, then the verification link from the email. Returns (user, warnings shown after the form)."""
    response = client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mail.outbox[-1].body).group(1)
    client.post(link)
    user = User.objects.get(email=email)
    assert EmailAddress.objects.get(user=user).verified
    return user, shown


def cookie_value(code: str, touched_at) -> str:
    return signing.get_cookie_signer(salt=COOKIE_NAME + COOKIE_SALT).sign(f"{code}|{int(touched_at.timestamp())}")


def touch_of(client):
    """The touch the client's cookie holds, as the server reads it."""
    request = HttpRequest()
    request.COOKIES = {COOKIE_NAME: client.cookies[COOKIE_NAME].value}
    return referral_touch(request)


# ---------------------------------------------------------------- the cookie


def test_a_link_to_any_page_sets_a_signed_http_only_lax_cookie_for_30_days(client, alice):
    client.get(reverse("account_login") + "?ref=alice_fx")
    cookie = client.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 30 * 24 * 3600
    assert "alice_fx" in cookie.value and ":" in cookie.value  # signed
    touch = touch_of(client)
    assert touch.code == "alice_fx" and abs(timezone.now() - touch.touched_at) < timedelta(seconds=5)


def test_the_short_link_leads_to_the_sign_up_page_and_keeps_the_code(client, alice):
    response = client.get("/r/alice_fx/")
    assert response.status_code == 302 and response["Location"] == reverse("account_signup") + "?ref=alice_fx"
    client.get(response["Location"])
    assert touch_of(client).code == "alice_fx"


def test_the_first_touch_wins(client, alice, default_partner):
    client.get("/r/alice_fx/", follow=True)
    first = client.cookies[COOKIE_NAME].value
    response = client.get(reverse("account_signup") + "?ref=dangote_fx")
    assert COOKIE_NAME not in response.cookies  # not overwritten
    assert client.cookies[COOKIE_NAME].value == first
    user, _ = sign_up(client)
    assert user.referral.partner == alice and user.referral.via == Via.LINK


def test_an_expired_touch_is_replaced_by_a_new_link(client, alice):
    client.cookies[COOKIE_NAME] = cookie_value("someone", timezone.now() - timedelta(days=31))
    client.get(reverse("account_signup") + "?ref=alice_fx")
    assert touch_of(client).code == "alice_fx"


def test_signed_in_users_get_no_cookie(client, alice):
    client.force_login(alice.user)
    response = client.get(reverse("revenue:referrals") + "?ref=alice_fx")
    assert response.status_code == 200 and COOKIE_NAME not in response.cookies
    client.get("/r/alice_fx/", follow=True)
    assert COOKIE_NAME not in client.cookies


def test_a_forged_cookie_is_ignored(client, alice, default_partner):
    client.cookies[COOKIE_NAME] = f"alice_fx|{int(timezone.now().timestamp())}:forged:signature"
    user, shown = sign_up(client)
    assert user.referral.partner == default_partner and user.referral.via == Via.DEFAULT
    assert shown == []


def test_a_code_in_an_odd_shape_is_not_stored(client, alice):
    client.get(reverse("account_signup") + "?ref=" + "x" * 61)
    client.get(reverse("account_signup") + "?ref=%3Cscript%3E")
    assert COOKIE_NAME not in client.cookies


# ---------------------------------------------------------------- email sign-up


def test_an_email_sign_up_through_a_link_is_attributed_through_the_verification_round_trip(client, alice):
    client.get("/r/alice_fx/", follow=True)
    user, shown = sign_up(client)

    referral = Referral.objects.get(user=user)
    assert referral.partner == alice and referral.via == Via.LINK and referral.code_used == "alice_fx"
    assert referral.first_touch_at is not None
    assert shown == []
    assert Partner.objects.get(user=user).code not in ("alice_fx", "")  # their own code, to bring traders too
    # Used once: the cookie goes with the sign-up's answer.
    assert client.cookies[COOKIE_NAME].value == ""
    event = AuditEvent.objects.get(action="referral.attribute")
    assert event.data["partner"] == "alice_fx" and event.data["via"] == Via.LINK


def test_a_sign_up_without_a_link_goes_to_the_default_partner(client, default_partner):
    user, shown = sign_up(client)
    assert user.referral.partner == default_partner and user.referral.via == Via.DEFAULT
    assert shown == []


def test_no_default_partner_leaves_the_sign_up_unattributed(client, default_partner, settings):
    settings.DEFAULT_PARTNER_CODE = ""
    user, _ = sign_up(client)
    assert not Referral.objects.filter(user=user).exists()


def test_an_unknown_code_signs_up_to_the_default_partner_and_says_why(client, default_partner):
    client.get(reverse("account_signup") + "?ref=nobody_here")
    user, shown = sign_up(client)
    assert user.referral.partner == default_partner and user.referral.via == Via.DEFAULT
    assert user.referral.code_used == "nobody_here"
    assert shown == ["The referral code “nobody_here” is not valid, so your sign-up is not attributed to it."]


def test_a_disabled_partners_code_signs_up_to_the_default_partner_and_says_why(client, alice, default_partner):
    Partner.objects.filter(pk=alice.pk).update(is_active=False)
    client.get("/r/alice_fx/", follow=True)
    user, shown = sign_up(client)
    assert user.referral.partner == default_partner
    assert "is not valid" in shown[0]


def test_a_partner_cannot_refer_their_own_second_email(client, alice, default_partner):
    client.get("/r/alice_fx/", follow=True)
    user, shown = sign_up(client, email="alice+second@example.com")
    assert user.referral.partner == default_partner and user.referral.via == Via.DEFAULT
    assert shown == ["You cannot sign up through your own referral link."]


def test_a_partner_cannot_refer_themselves(alice):
    attribution = referral_attribute(user=alice.user, code="alice_fx", touched_at=timezone.now())
    assert attribution.message == "You cannot sign up through your own referral link."
    assert attribution.referral.partner.code == "dangote_fx"


def test_a_code_in_another_case_attributes_to_the_partner(client, default_partner):
    client.get("/r/DANGOTE_FX/", follow=True)
    user, shown = sign_up(client)
    assert user.referral.partner == default_partner and user.referral.via == Via.LINK
    assert user.referral.code_used == "DANGOTE_FX" and shown == []


def test_a_code_differing_only_in_case_from_anothers_is_refused(alice):
    bob = partner_for(User.objects.create_user("bob@example.com", PASSWORD))
    with pytest.raises(ValidationError, match="This code is taken"):
        partner_code_set(user=bob.user, code="ALICE_FX")
    assert Partner.objects.get(pk=bob.pk).code == bob.code


def test_an_attribution_never_changes_after_sign_up(client, alice, default_partner):
    client.get("/r/alice_fx/", follow=True)
    user, _ = sign_up(client)
    # Another partner's link later: signed in, no cookie; and attributing again keeps the first partner.
    client.get("/r/dangote_fx/", follow=True)
    assert client.cookies[COOKIE_NAME].value == ""
    client.logout()
    client.get("/r/dangote_fx/", follow=True)
    client.force_login(user)
    again = referral_attribute(user=user, code="dangote_fx", touched_at=timezone.now())
    assert again.referral.partner == alice
    assert Referral.objects.get(user=user).partner == alice
    assert AuditEvent.objects.filter(action="referral.attribute").count() == 1


def test_a_31_day_old_first_touch_no_longer_counts(client, alice, default_partner):
    client.cookies[COOKIE_NAME] = cookie_value("alice_fx", timezone.now() - timedelta(days=31))
    user, shown = sign_up(client)
    assert user.referral.partner == default_partner and user.referral.via == Via.DEFAULT
    assert shown == ["The referral link with code “alice_fx” is more than 30 days old, so it no longer counts."]


def test_a_29_day_old_first_touch_still_counts(client, alice, default_partner):
    touched = timezone.now() - timedelta(days=29)
    client.cookies[COOKIE_NAME] = cookie_value("alice_fx", touched)
    user, _ = sign_up(client)
    assert user.referral.partner == alice
    assert abs(user.referral.first_touch_at - touched) < timedelta(seconds=1)


def test_the_sign_up_message_is_shown_on_the_page(client, default_partner):
    client.get(reverse("account_signup") + "?ref=nobody_here")
    response = client.post(
        reverse("account_signup"),
        {"email": "new.trader@example.com", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    page = response.content.decode()
    assert '<li class="message warning">The referral code “nobody_here” is not valid' in page
    assert "Verify Your Email Address" in page  # the sign-up went on


# ---------------------------------------------------------------- Continue with Deriv


def test_continue_with_deriv_passes_the_referring_partners_affiliate_token(client, deriv_on, alice):
    Partner.objects.filter(pk=alice.pk).update(deriv_affiliate_token="alice-token")
    client.get("/r/ALICE_FX/", follow=True)
    params = query(start(client, intent="signup"))
    assert params["affiliate_token"] == "alice-token" and params["utm_source"] == "alice_fx"
    assert params["prompt"] == "registration"


def test_continue_with_deriv_uses_the_settings_partner_params_without_a_link(client, deriv_on, settings, alice):
    settings.DERIV = {
        **settings.DERIV,
        "PARTNER_PARAMS": {"utm_source": "dangote_fx", "utm_medium": "affiliate", "affiliate_token": "from-settings"},
    }
    params = query(start(client, intent="signup"))
    assert params["affiliate_token"] == "from-settings" and params["utm_source"] == "dangote_fx"
    # A partner without a Deriv token: the settings' attribution too.
    client.get("/r/alice_fx/", follow=True)
    params = query(start(client, intent="signup"))
    assert params["affiliate_token"] == "from-settings" and params["utm_source"] == "dangote_fx"


def test_continue_with_deriv_passes_the_default_partners_token_from_its_row(client, deriv_on, default_partner):
    client.get("/r/dangote_fx/", follow=True)
    params = query(start(client, intent="signup"))
    assert params["affiliate_token"] == "dangote-token" and params["utm_source"] == "dangote_fx"


def test_a_disabled_or_expired_partner_link_passes_no_partner_token(client, deriv_on, alice, settings):
    settings.DERIV = {**settings.DERIV, "PARTNER_PARAMS": {"affiliate_token": "from-settings"}}
    Partner.objects.filter(pk=alice.pk).update(deriv_affiliate_token="alice-token", is_active=False)
    client.get("/r/alice_fx/", follow=True)
    assert query(start(client, intent="signup"))["affiliate_token"] == "from-settings"
    Partner.objects.filter(pk=alice.pk).update(is_active=True)
    client.cookies[COOKIE_NAME] = cookie_value("alice_fx", timezone.now() - timedelta(days=31))
    assert query(start(client, intent="signup"))["affiliate_token"] == "from-settings"


def test_sign_in_with_deriv_adds_no_partner_params(client, deriv_on, alice):
    Partner.objects.filter(pk=alice.pk).update(deriv_affiliate_token="alice-token")
    client.get("/r/alice_fx/", follow=True)
    params = query(start(client))
    assert "affiliate_token" not in params and "utm_source" not in params


def test_a_deriv_sign_up_through_a_link_is_attributed_through_the_oauth_round_trip(client, deriv_on, alice):
    Partner.objects.filter(pk=alice.pk).update(deriv_affiliate_token="alice-token")
    client.get("/r/alice_fx/", follow=True)
    authorize = start(client, intent="signup")
    assert deriv_on.auth_base in authorize
    response = callback(client, at_deriv(authorize))
    assert deriv_on.authorize_requests[-1]["affiliate_token"] == "alice-token"
    assert response["Location"] == reverse("socialaccount_signup")
    user = complete_sign_up(client)
    referral = Referral.objects.get(user=user)
    assert referral.partner == alice and referral.via == Via.LINK
    assert client.cookies[COOKIE_NAME].value == ""


def test_a_deriv_sign_up_without_a_link_goes_to_the_default_partner(client, deriv_on, default_partner):
    callback(client, at_deriv(start(client, intent="signup")))
    user = complete_sign_up(client)
    assert user.referral.partner == default_partner and user.referral.via == Via.DEFAULT
