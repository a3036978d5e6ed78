import pytest


def test_without_a_token_or_an_allow_list_metrics_do_not_exist(client, settings, db):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_the_right_bearer_token_gets_the_metrics(client, metrics_token, db):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    # django-prometheus's HTTP and database metrics, and the domain's.
    assert "django_http_requests_total_by_method_total" in text
    assert "django_db_execute_total" in text
    assert "# TYPE nexus_open_contracts gauge" in text
    assert "# TYPE nexus_ticks_committed_total counter" in text


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", "Basic c2NyYXBlLXRva2VuLWZvci10ZXN0cw==", "scrape-token-for-tests"],
)
def test_a_missing_or_wrong_token_is_forbidden(client, metrics_token, db, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    assert client.get("/metrics", **extra).status_code == 403


def test_an_allowed_address_needs_no_token(client, settings, db):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16", "127.0.0.1"]
    assert client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.4.2").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.4.2").status_code == 403
    # A forwarded address is what any visitor can write: it is not the connection's.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403


def test_metrics_answer_prometheus_calling_by_address_over_plain_http(client, metrics_token, settings, db):
    settings.ALLOWED_HOSTS = ["nexus.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/metrics", HTTP_HOST="web:8000", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert response.status_code == 200
