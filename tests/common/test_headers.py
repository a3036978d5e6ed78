"""Every page, for an anonymous visitor and a signed-in trader, carries the security headers.

The URLs come from the resolver, so a new page is covered without editing
this test; its parameters are filled with the ids of objects made here (a
new parameter name fails the test until it is given a value below).
"""

import re

import pytest
from django.urls import URLResolver, get_resolver, reverse

from apps.bots.models import Backtest, Bot
from apps.trading.models import Contract
from tests.bots.test_backtests import backtest_form
from tests.bots.test_views import bot_form

PARAM = re.compile(r"<(?:\w+:)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^)]*\)")


def routes(patterns=None, prefix=""):
    """Every URL pattern's full route (path converters and regex groups left in)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, route)
        else:
            yield route


def fill(route: str, values: dict) -> str:
    def value(match):
        name = match["name"] or match["group"]
        for prefix, by_name in values.items():
            if route.startswith(prefix) and name in by_name:
                return str(by_name[name])
        raise AssertionError(f"no value for <{name}> in {route}: add one to the test")

    return "/" + PARAM.sub(value, route).replace("\\", "")


@pytest.fixture
def urls(client, user, demo_account, feed, markets):
    client.force_login(user)
    client.post(
        reverse("trading:buy"),
        {
            "market": "OTC_EUR_USD",
            "direction": "RISE",
            "stake": "5",
            "duration": "5",
            "duration_unit": "t",
            "idempotency_key": "headers",
        },
    )
    client.post(reverse("bots:new"), bot_form(markets["VOL_10"], demo_account))
    client.post(reverse("bots:backtest_new"), backtest_form(markets["VOL_10"], length="200"))
    client.logout()
    values = {
        "trade/contracts/": {"pk": Contract.objects.get().pk},
        "admin/": {"app_label": "markets", "object_id": 1, "id": 1, "content_type_id": 1, "url": "x"},
        "": {
            "pk": demo_account.pk,
            "bot_id": Bot.objects.get().pk,
            "backtest_id": Backtest.objects.get().pk,
            "symbol": "VOL_10",
            "key": "not-a-key",
            "uidb36": "1",
        },
    }
    found = sorted({fill(route, values) for route in routes()})
    assert len(found) > 60
    return found


def script_sources(csp: str) -> list[str]:
    directives = {d.split()[0]: d.split()[1:] for d in (part.strip() for part in csp.split(";")) if d}
    return directives.get("script-src", directives.get("default-src", []))


def assert_secure_headers(response, url):
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert csp, f"{url}: no CSP"
    assert "'unsafe-inline'" not in script_sources(csp), f"{url}: scripts may run inline"
    assert "'unsafe-inline'" not in csp, f"{url}: inline styles or scripts allowed"
    assert headers.get("Referrer-Policy") == "same-origin", url
    assert "camera=()" in headers.get("Permissions-Policy", ""), url
    assert headers.get("X-Content-Type-Options") == "nosniff", url
    assert headers.get("X-Frame-Options") == "DENY", url


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "trader"])
def test_every_page_sends_the_security_headers(client, user, urls, signed_in):
    if signed_in:
        client.force_login(user)
    for url in urls:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, f"{url}: {response.status_code}"
            assert_secure_headers(response, url)
