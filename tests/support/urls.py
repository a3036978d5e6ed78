"""Every URL pattern of the site, from the resolver: tests that must cover the whole site walk these.

A route is the pattern's full text with its parameters left in
(`trade/contracts/<int:pk>/`); `fill` puts values in them.
"""

import re

from django.urls import URLResolver, get_resolver

PARAM = re.compile(r"<(?:\w+:)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^)]*\)")


def views(patterns=None, prefix=""):
    """Every URL pattern's full route (path converters and regex groups left in) and its view."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            yield from views(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def routes():
    """Every URL pattern's full route."""
    for route, _ in views():
        yield route


def params(route: str) -> list[str]:
    """The names of the route's parameters, in order."""
    return [match["name"] or match["group"] for match in PARAM.finditer(route)]


def fill(route: str, values: dict) -> str:
    """The route's URL with each parameter taken from `values`: {route prefix: {name: value}}, first prefix wins."""

    def value(match):
        name = match["name"] or match["group"]
        for prefix, by_name in values.items():
            if route.startswith(prefix) and name in by_name:
                return str(by_name[name])
        raise AssertionError(f"no value for <{name}> in {route}: add one to the test")

    return "/" + PARAM.sub(value, route).replace("\\", "")
