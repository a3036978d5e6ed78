"""Where a plain post returns to."""

import pytest
from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails

from apps.common.http import redirect_back


def _post(data=None, **headers):
    request = RequestFactory().post("/x/", data or {}, headers=headers)
    request.htmx = HtmxDetails(request)
    return request


def test_the_next_field_comes_first():
    response = redirect_back(_post({"next": "/trade/history/"}, referer="http://testserver/bots/"))

    assert response.url == "/trade/history/"


def test_without_next_the_referer():
    assert redirect_back(_post(referer="http://testserver/bots/")).url == "http://testserver/bots/"


@pytest.mark.parametrize(
    ("data", "headers"),
    [({"next": "https://evil.example/"}, {}), ({}, {"referer": "https://evil.example/"}), ({}, {})],
    ids=["foreign next", "foreign referer", "nothing"],
)
def test_another_site_or_nothing_goes_to_the_fallback(data, headers):
    assert redirect_back(_post(data, **headers), fallback="/bots/").url == "/bots/"


def test_with_htmx_the_page_refreshes():
    response = redirect_back(_post({"next": "/trade/history/"}, hx_request="true"))

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
