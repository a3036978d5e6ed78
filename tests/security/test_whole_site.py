"""Properties of every URL of the site, read from the resolver (a new URL is covered without editing this file).

- no view is exempt from CSRF, and a post without the token is refused everywhere;
- a GET changes nothing in the database, whoever sends it;
- an anonymous visitor reaches only the public pages listed here, every other
  URL sends them to sign in;
- staff pages (the admin and `STAFF_ONLY`) refuse traders, and ask staff for
  their second factor first.
"""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import resolve, reverse

from tests.support.mfa import sign_in
from tests.support.urls import fill, routes, views

from .conftest import database_state

# Pages anyone may open: the landing page, allauth's sign-in, sign-up, reset and
# confirmation pages, and the Deriv sign-in's start and return.
PUBLIC = {
    "",
    "accounts/login/",
    "accounts/signup/",
    "accounts/confirm-email/",
    "accounts/confirm-email/(?P<key>[-:\\w]+)/",
    "accounts/password/reset/",
    "accounts/password/reset/done/",
    "accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/",
    "accounts/password/reset/key/done/",
    "accounts/login/code/confirm/",
    "accounts/3rdparty/login/cancelled/",
    "accounts/3rdparty/login/error/",
    "accounts/3rdparty/signup/",
    "accounts/deriv/login/",
    "accounts/deriv/login/callback/",
    # Signing out when not signed in goes home.
    "accounts/logout/",
    "accounts/inactive/",
    # A partner's referral link: to the sign-up page.
    "r/<str:code>/",
    # The plans, for visitors deciding whether to sign up.
    "pricing/",
    # An email's unsubscribe link works without signing in (a wrong token answers 400).
    "unsubscribe/<str:token>/",
}
# Staff pages outside the admin.
STAFF_ONLY = {"markets/status/"}
# Operations endpoints for load balancers and Prometheus: /health/ and /ready/
# answer anyone (up or down, 503 when not ready), /metrics only a token or an
# allowed address (404 otherwise). They read, never write.
OPERATIONS = {"health/", "ready/", "metrics"}
# Endpoints POSTed to with no session, each request signed and refused (400, nothing stored) without a
# valid signature, so CSRF does not apply to them: Stripe's webhook, and an email's one-click
# unsubscribe (RFC 8058: the mail provider posts the signed link it was sent).
SIGNED_POSTS = {"billing/stripe/webhook/", "unsubscribe/<str:token>/"}


@pytest.fixture
def site(victim):
    """Every route, filled with the victim's objects: {route: url}."""
    values = {
        "trading-accounts/": {"pk": victim.account.pk},
        "trade/contracts/": {"pk": victim.contract.pk},
        "deriv/": {"pk": victim.deriv_account.pk},
        "exchanges/bots/": {"bot_id": victim.spot_bot.pk},
        "exchanges/": {"connection_id": victim.exchange_connection.pk},
        "admin/": {"app_label": "markets", "object_id": 1, "id": victim.user.pk, "content_type_id": 1, "url": "x"},
        "": {
            "bot_id": victim.bot.pk,
            "backtest_id": victim.backtest.pk,
            "symbol": "VOL_10",
            "code": "dangote_fx",
            "key": "not-a-key",
            "uidb36": "1",
            "token": "not-a-token",
        },
    }
    found = {route: fill(route, values) for route in routes()}
    assert len(found) > 100
    return found


def test_no_view_is_exempt_from_csrf():
    found = list(views())
    assert len(found) > 100
    for route, view in found:
        if route in SIGNED_POSTS:
            continue
        assert not getattr(view, "csrf_exempt", False), f"{route} is csrf_exempt"


def test_a_post_without_the_csrf_token_is_refused_everywhere(site, victim):
    for signed_in in (False, True):
        client = Client(enforce_csrf_checks=True)
        if signed_in:
            client.force_login(victim.user)
        before = database_state()
        for route, url in site.items():
            response = client.post(url, {"next": "/"})
            # 405: the operations endpoints (/health/, /ready/, /metrics) take no POST at all;
            # 400: a signed endpoint refuses a post without its signature.
            allowed = (400,) if route in SIGNED_POSTS else (403, 405)
            assert response.status_code in allowed, f"POST {url}: {response.status_code}"
        assert database_state() == before


def test_a_get_changes_nothing(site, victim, client, admin_user):
    """Anonymous, the owner, another trader and staff with their second factor.

    Each has the email address record sign-up makes (allauth's email page
    writes a missing one, from the user's email, on its first visit).
    """
    outsider_user = type(victim.user).objects.create_user("get@example.com", "x" * 12)
    for person in (victim.user, outsider_user, admin_user):
        EmailAddress.objects.create(user=person, email=person.email, verified=True, primary=True)
    outsider = Client()
    outsider.force_login(outsider_user)
    staff = Client()
    sign_in(staff, admin_user, mfa=True)
    owner = Client()
    owner.force_login(victim.user)
    before = database_state()
    for who, visitor in {"anonymous": client, "owner": owner, "outsider": outsider, "staff": staff}.items():
        for url in site.values():
            # Traders' pages answer htmx with their partials: those are read too.
            for headers in ({}, {"HX-Request": "true"}) if who in ("owner", "outsider") else ({},):
                response = visitor.get(url, headers=headers)
                if resolve(url).route not in OPERATIONS:
                    assert response.status_code < 500, f"{who} GET {url}: {response.status_code}"
            after = database_state()
            changed = {table for table in before if before[table] != after[table]}
            assert not changed, f"GET {url} by {who} changed {changed}"


def test_anonymous_visitors_reach_the_public_pages_only(site, client):
    login = reverse("account_login")
    for route, url in site.items():
        response = client.get(url)
        if response.status_code == 301:
            # An old address of a page (allauth's `social/` for `3rdparty/`): the page it moved to is checked.
            route = resolve(response["Location"]).route
            response = client.get(response["Location"])
        if route in PUBLIC:
            assert response.status_code < 500, f"{url}: {response.status_code}"
            continue
        if route in OPERATIONS:
            assert response.status_code in (200, 503, 404), f"{url}: {response.status_code}"
            continue
        assert response.status_code in (302, 404, 405), f"{url} answers {response.status_code} to anyone"
        if response.status_code == 302:
            location = response["Location"]
            # The admin's own login forwards to allauth's sign-in.
            assert location.startswith((login, reverse("admin:login"))), f"{url} -> {location}"


def test_every_public_route_exists():
    """A public page that disappears or moves is taken off the list, so the list never grows stale."""
    assert set(routes()) >= PUBLIC | STAFF_ONLY | OPERATIONS


def staff_routes(site) -> dict:
    return {route: url for route, url in site.items() if route.startswith("admin/") or route in STAFF_ONLY}


def test_staff_pages_refuse_traders(site, victim, client):
    client.force_login(victim.user)
    for url in staff_routes(site).values():
        response = client.get(url, follow=True)
        assert response.status_code == 403, f"a trader gets {response.status_code} from {url}"


def test_staff_pages_ask_staff_for_their_second_factor_first(site, client, admin_user):
    sign_in(client, admin_user, mfa=False)
    for url in staff_routes(site).values():
        response = client.get(url, follow=True)
        hops = [hop for hop, _ in response.redirect_chain]
        assert any(hop.startswith("/accounts/2fa/") for hop in hops), f"staff without a second factor reach {url}"
    sign_in(client, admin_user, mfa=True)
    for route in STAFF_ONLY:
        assert client.get(site[route]).status_code == 200
