"""The same endpoints and ids through Django's ASGI handler, as daphne serves them (async middleware chain)."""

from asgiref.sync import async_to_sync
from django.test import AsyncClient


def get(path, **headers):
    return async_to_sync(AsyncClient().get)(path, headers=headers)


def test_probes_answer_under_asgi(alive, settings):
    settings.ALLOWED_HOSTS = ["nexus.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert get("/health/", host="10.0.0.7:8000").status_code == 200
    response = get("/ready/", host="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json()["checks"]["feed_otc"] == "ok"


def test_metrics_answer_under_asgi(metrics_token, db):
    assert get("/metrics").status_code == 403
    response = get("/metrics", authorization=f"Bearer {metrics_token}")
    assert response.status_code == 200
    assert b"nexus_tick_age_seconds" in response.content


def test_the_request_id_comes_back_under_asgi(db):
    response = get("/accounts/login/", x_request_id="asgi-request-0001")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "asgi-request-0001"
