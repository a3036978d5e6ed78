"""The shared cache answers as an empty one while Redis is out of reach, and as Redis otherwise."""

import logging

import pytest
from django.core.cache import caches

from nexus.settings import redis_caches
from tests.support.redis import UNREACHABLE_REDIS_URL, embedded_redis


def _cache(settings, url):
    settings.CACHES = redis_caches(url)
    return caches["default"]


def test_unreachable_it_answers_as_an_empty_cache_and_grants_locks(settings, caplog):
    cache = _cache(settings, UNREACHABLE_REDIS_URL)

    with caplog.at_level(logging.WARNING, logger="apps.common.cache"):
        assert cache.get("k", "default") == "default"
        # allauth takes its rate limit lock with add(): granted, so its limits fail open.
        assert cache.add("lock", True) is True
        assert cache.set("k", 1) is None
        assert cache.get_many(["a", "b"]) == {}
        assert cache.has_key("k") is False
        assert cache.delete("k") is False
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert cache.reachable() is False

    # One warning for the outage, not one per call.
    assert len(caplog.records) == 1
    assert "rate limits fail open" in caplog.text


def test_unreachable_it_stops_asking_redis_for_a_while(settings, monkeypatch):
    cache = _cache(settings, UNREACHABLE_REDIS_URL)
    assert cache.get("k") is None

    def never(*args, **kwargs):
        pytest.fail("Redis was asked again during the outage")

    monkeypatch.setattr(cache._cache, "get_client", never)
    for _ in range(20):
        assert cache.get("k") is None
        assert cache.add("lock", True) is True


def test_reachable_it_is_redis(settings):
    with embedded_redis() as url:
        cache = _cache(settings, url)
        assert cache.reachable() is True
        cache.set("k", {"v": 1})
        assert cache.get("k") == {"v": 1}
        assert cache.add("k", 2) is False
        assert cache.get_many(["k", "missing"]) == {"k": {"v": 1}}
