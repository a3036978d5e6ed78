"""Another trader's objects do not exist for you: every URL that names one answers 404 and changes nothing.

The URLs come from the resolver. Every parameter of every route is either an
object a trader owns (`OWNED`, checked below) or listed in `NOT_OWNED` with the
reason it is no trader's: a new URL with a new parameter fails
`test_every_url_parameter_is_classified` until it is put in one of them.
"""

import pytest
from django.urls import reverse

from tests.bots.test_views import bot_form
from tests.support.urls import fill, params, routes

from .conftest import database_state

# (route prefix, parameter) -> the attribute of `Owned` whose id fills it.
OWNED = {
    ("trading-accounts/", "pk"): "account",
    ("trade/contracts/", "pk"): "contract",
    ("deriv/", "pk"): "deriv_account",
    ("bots/", "bot_id"): "bot",
    ("bots/", "backtest_id"): "backtest",
    ("exchanges/bots/", "bot_id"): "spot_bot",
    ("exchanges/", "connection_id"): "exchange_connection",
}
NOT_OWNED = {
    ("markets/", "symbol"): "markets are shared: every trader sees every market's prices",
    ("accounts/", "key"): "allauth's signed, expiring tokens (email confirmation, password reset), not ids",
    ("accounts/", "uidb36"): "part of allauth's password reset token",
    ("admin/", None): "staff only, behind two-factor: tests/security/test_staff_only.py",
    ("r/", "code"): "a partner's public referral code: the link is meant to be shared",
    ("billing/", "code"): "a plan's code: every plan is public (the pricing page)",
    ("unsubscribe/", "token"): "a signed, per-recipient token from an email, not an id (a wrong one answers 400)",
}
# An id no object has: what a missing object answers, to compare with.
MISSING = 10**9


def classify(route: str, name: str) -> str | None:
    for (prefix, param), what in OWNED.items():
        if route.startswith(prefix) and name == param:
            return what
    for prefix, param in NOT_OWNED:
        if route.startswith(prefix) and param in (None, name):
            return None
    raise AssertionError(f"<{name}> in {route} is neither OWNED nor NOT_OWNED: classify it in {__name__}")


def test_every_url_parameter_is_classified():
    for route in routes():
        for name in params(route):
            classify(route, name)


OWNED_ROUTES = sorted(r for r in routes() if any(classify(r, name) for name in params(r)))


def test_the_owned_routes_are_found():
    assert len(OWNED_ROUTES) >= 12, OWNED_ROUTES


def url_for(route: str, owned, *, missing: bool = False) -> str:
    values = {route: {name: MISSING if missing else getattr(owned, classify(route, name)).pk for name in params(route)}}
    return fill(route, values)


@pytest.mark.parametrize("route", OWNED_ROUTES)
def test_another_traders_object_is_not_found_and_nothing_changes(route, victim, attacker, client):
    url = url_for(route, victim)
    missing_url = url_for(route, victim, missing=True)
    before = database_state()
    answered = {}
    for method in ("get", "post"):
        for headers in ({}, {"HX-Request": "true"}):
            response = getattr(attacker, method)(url, headers=headers)
            missing = getattr(attacker, method)(missing_url, headers=headers)
            # 405 (a method the URL never takes) is the same for every id: it says nothing about this one.
            assert response.status_code in (404, 405), f"{method.upper()} {url}: {response.status_code}"
            assert response.status_code == missing.status_code, f"{method.upper()} {url} differs from a missing id"
            answered[method] = response.status_code
    assert 404 in answered.values(), f"{url}: {answered}"
    assert database_state() == before, f"{url}: another trader's request changed the database"

    # The id was real: its owner reaches it (so a 404 above is the ownership check, not a bad id).
    client.force_login(victim.user)
    statuses = {client.get(url).status_code, client.post(url).status_code}
    assert statuses - {404, 405}, f"{url}: its owner gets {statuses}"


def test_ids_in_query_strings_and_forms_are_checked_too(victim, attacker, markets):
    """Ids that are not in the path: a bot or backtest to copy, backtests to compare, the bot's account."""
    before = database_state()
    for url in (
        f"{reverse('bots:backtest_new')}?bot={victim.bot.pk}",
        f"{reverse('bots:backtest_new')}?backtest={victim.backtest.pk}",
        f"{reverse('bots:backtests')}?compare={victim.backtest.pk}&compare={victim.backtest.pk + 1}",
    ):
        assert attacker.get(url).status_code == 404, url
    assert "Victim-owned" not in attacker.get(reverse("bots:backtests")).content.decode()
    response = attacker.post(reverse("bots:new"), bot_form(markets["VOL_10"], victim.account, name="Stolen"))
    assert response.status_code == 422
    assert "Choose one of your accounts." in response.content.decode()
    assert attacker.get(f"{reverse('exchanges:bot_new')}?connection={victim.exchange_connection.pk}").status_code == 404
    stolen = {"connection": victim.exchange_connection.pk, "market": victim.spot_bot.market_id, "name": "Stolen"}
    response = attacker.post(reverse("exchanges:bot_new"), stolen)
    assert response.status_code == 422
    assert "Choose one of your exchange connections." in response.content.decode()
    assert database_state() == before


def test_lists_and_json_show_only_the_traders_own(victim, attacker, client):
    """Pages and JSON that list things list the signed-in trader's only (their owner sees them there)."""
    contract = victim.contract
    client.force_login(victim.user)
    pages = {
        reverse("trading:trade"): [],
        reverse("trading:history"): [],
        f"{reverse('trading:markers')}?market={contract.market.symbol}": [],
        reverse("bots:list"): [],
        reverse("bots:rows"): [],
        reverse("bots:backtests"): [],
        reverse("exchanges:list"): [],
        reverse("exchanges:bot_new"): [],
        reverse("notifications:list"): [],
        reverse("deriv:accounts"): [victim.deriv_account.external_id],
        # The victim bought for 10 from 10,000; the attacker has not bought.
        reverse("accounts:balance"): ["9,990.00"],
    }
    for url, extra in pages.items():
        html = attacker.get(url).content.decode()
        for secret in ["Victim-owned", f"/trade/contracts/{contract.pk}/", *extra]:
            assert secret not in html, f"{url} shows {secret!r}"
        owner_sees = client.get(url).content.decode()
        assert any(secret in owner_sees for secret in ["Victim-owned", f"/trade/contracts/{contract.pk}/", *extra]) or (
            url.startswith(reverse("trading:markers"))
        ), f"{url}: its owner sees nothing of theirs either"
    markers_url = f"{reverse('trading:markers')}?market={contract.market.symbol}"
    assert attacker.get(markers_url).json() == {"markers": [], "open": []}
    assert client.get(markers_url).json()["markers"], "its owner sees their entry"


def test_a_comparison_of_too_many_backtests_reads_none_of_them(victim, attacker, django_assert_max_num_queries):
    """Up to a thousand ids fit in a query string: the count is checked before any backtest is read."""
    ids = "&".join(f"compare={victim.backtest.pk + i}" for i in range(500))
    with django_assert_max_num_queries(20):
        response = attacker.get(f"{reverse('bots:backtests')}?{ids}")
    assert response.status_code == 422
    assert "Choose two to four backtests to compare." in response.content.decode()
