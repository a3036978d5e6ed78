"""Every view that redirects to a place the request names (`next`, the referer) stays on this site.

The views: redirect_back's users (account select, demo reset, open demo, bot
start and stop), allauth's sign-in, sign-up, sign-out and re-authentication,
the admin's login forwarding, and the Deriv OAuth return.
"""

from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from tests.deriv import test_oauth
from tests.support.mfa import sign_in

PASSWORD = "correct horse battery staple"

OFF_SITE = [
    "//evil.com",
    "https://evil.com",
    "http://evil.com/",
    "/\\evil.com",
    "\\\\evil.com",
    " //evil.com",
    "\t//evil.com",
    "https:evil.com",
    "///evil.com",
    "https://testserver@evil.com",
    "https://testserver.evil.com",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]


def assert_on_site(response, target):
    assert response.status_code in (301, 302, 303), response.status_code
    location = response["Location"]
    assert "evil.com" not in location and "javascript" not in location.lower(), f"{target!r} -> {location!r}"
    assert location.startswith("/") and not location.startswith(("//", "/\\")), f"{target!r} -> {location!r}"
    assert url_has_allowed_host_and_scheme(location, allowed_hosts={"testserver"}), location


@pytest.fixture
def trader(client, user, demo_account, markets):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user, backend="allauth.account.auth_backends.AuthenticationBackend")
    return client


def redirect_back_views(demo_account, markets) -> list[str]:
    from apps.bots.services import bot_create
    from tests.bots.conftest import TREND

    bot = bot_create(
        user=demo_account.user,
        decision=TREND,
        settings={"name": "Back", "account": demo_account, "market": markets["VOL_10"]},
    )
    return [
        reverse("accounts:select", args=[demo_account.pk]),
        reverse("accounts:reset", args=[demo_account.pk]),
        reverse("accounts:open_demo"),
        reverse("bots:start", args=[bot.pk]),
        reverse("bots:stop", args=[bot.pk]),
    ]


@pytest.mark.parametrize("target", OFF_SITE)
def test_posts_that_go_back_never_leave_the_site(trader, demo_account, markets, target):
    for url in redirect_back_views(demo_account, markets):
        assert_on_site(trader.post(url, {"next": target}), target)
        assert_on_site(trader.post(url, headers={"referer": target}), target)


def test_posts_that_go_back_do_go_back_on_the_site(trader, demo_account, markets):
    """The check above is not a redirect that ignores `next`: a page of ours is where it goes."""
    for url in redirect_back_views(demo_account, markets):
        assert trader.post(url, {"next": "/bots/?page=2"})["Location"] == "/bots/?page=2"


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_sign_out_and_re_authentication_never_leave_the_site(client, user, target):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD, "next": target})
    assert_on_site(response, target)
    assert client.session.get("_auth_user_id") == str(user.pk)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD, "next": target})
    assert_on_site(response, target)
    assert_on_site(client.post(reverse("account_logout"), {"next": target}), target)
    response = client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD, "next": target},
    )
    assert_on_site(response, target)


def test_sign_in_does_follow_a_next_on_the_site(client, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD, "next": "/bots/"})
    assert response["Location"] == "/bots/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_the_admin_login_forwards_only_on_the_site(client, admin_user, target):
    url = f"{reverse('admin:login')}?{urlencode({'next': target})}"
    # Signed out: to allauth's sign-in, whose `next` is ours.
    response = client.get(url)
    assert_on_site(response, target)
    forwarded = test_oauth.query(response["Location"]).get("next", "")
    assert forwarded == reverse("admin:index"), forwarded
    # Signed in with a second factor: straight on, to the admin.
    sign_in(client, admin_user, mfa=True)
    response = client.get(url)
    assert_on_site(response, target)
    assert response["Location"] == reverse("admin:index")


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_the_deriv_oauth_return_never_leaves_the_site(client, deriv_on, user, target):
    """Linking Deriv from the Deriv page comes back to `next`: an off-site one is dropped."""
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    response = test_oauth.sign_in(client, process="connect", next_url=target)
    assert_on_site(response, target)


def test_the_deriv_oauth_return_does_follow_a_next_on_the_site(client, deriv_on, user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    response = test_oauth.sign_in(client, process="connect", next_url="/bots/")
    assert response["Location"] == "/bots/"


@pytest.mark.parametrize("target", OFF_SITE)
def test_the_second_factor_steps_never_leave_the_site(client, user, target):
    """Entering a code (as the admin's gate asks staff to) and setting up an app both go on to `next`."""
    from tests.support.mfa import totp_activate, totp_code

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    _, secret = totp_activate(user)
    sign_in(client, user, mfa=False)
    response = client.post(reverse("mfa_reauthenticate"), {"code": totp_code(secret), "next": target})
    assert_on_site(response, target)
    assert any(r["method"] == "mfa" for r in client.session["account_authentication_methods"])


@pytest.mark.parametrize("target", OFF_SITE)
def test_the_slow_down_pages_way_back_stays_on_the_site(trader, demo_account, settings, target):
    """A 429 page links back to the referer: an off-site one becomes the home page."""
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"demo_resets": "1/h"}
    url = reverse("accounts:reset", args=[demo_account.pk])
    trader.post(url)
    response = trader.post(url, headers={"referer": target})
    assert response.status_code == 429
    assert '<a href="/">' in response.content.decode()
    back = trader.post(url, headers={"referer": "/trade/?market=VOL_10"}).content.decode()
    assert '<a href="/trade/?market=VOL_10">' in back
