"""Every page, for an anonymous visitor and a signed-in trader, carries the security headers.

The URLs come from the resolver, so a new page is covered without editing
this test; its parameters are filled with the ids of objects made here (a
new parameter name fails the test until it is given a value below).
"""

import pytest
from django.urls import reverse

from apps.bots.models import Backtest, Bot
from apps.trading.models import Contract
from tests.bots.test_backtests import backtest_form
from tests.bots.test_views import bot_form
from tests.exchanges.support import keyed_connection, spot_bot_make, spot_market
from tests.support.urls import fill, routes
from tests.trading.support import order_form


@pytest.fixture
def urls(client, user, demo_account, feed, markets):
    client.force_login(user)
    client.post(
        reverse("trading:buy"),
        order_form(stake="5", idempotency_key="headers"),
    )
    client.post(reverse("bots:new"), bot_form(markets["VOL_10"], demo_account))
    client.post(reverse("bots:backtest_new"), backtest_form(markets["VOL_10"], length="200"))
    spot_bot = spot_bot_make(user, keyed_connection(user), spot_market())
    client.logout()
    values = {
        "trade/contracts/": {"pk": Contract.objects.get().pk},
        "exchanges/bots/": {"bot_id": spot_bot.pk},
        "exchanges/": {"connection_id": spot_bot.connection_id},
        "admin/": {"app_label": "markets", "object_id": 1, "id": 1, "content_type_id": 1, "url": "x"},
        "": {
            "pk": demo_account.pk,
            "bot_id": Bot.objects.get().pk,
            "backtest_id": Backtest.objects.get().pk,
            "symbol": "VOL_10",
            "code": "dangote_fx",
            "key": "not-a-key",
            "uidb36": "1",
            "token": "not-a-token",
        },
    }
    # The operations endpoints are answered before the security middleware, for load balancers
    # and Prometheus (plain text and JSON, no page to protect).
    operations = {"health/", "ready/", "metrics"}
    found = sorted({fill(route, values) for route in routes() if route not in operations})
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
