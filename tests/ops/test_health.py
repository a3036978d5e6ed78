import pytest


def test_health_answers_ok_without_touching_the_database(client, django_assert_num_queries, db):
    with django_assert_num_queries(0):
        response = client.get("/health/")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/health/", "/ready/"])
def test_probes_answer_a_load_balancer_calling_by_address_over_plain_http(client, settings, alive, path):
    """Production settings: only the site's host name, HTTPS redirect on. Probes still answer."""
    settings.ALLOWED_HOSTS = ["nexus.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(path, HTTP_HOST="10.0.0.7:8000").status_code == 200
    # Every other page keeps both protections.
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    assert client.get("/", HTTP_HOST="nexus.example.com").status_code == 301
