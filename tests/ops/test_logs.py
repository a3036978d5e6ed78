import io
import json
import logging

import pytest

from apps.ops import context
from apps.ops.logs import ContextFilter, JsonFormatter


@pytest.fixture
def log_lines():
    """What the production handler writes, one string per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [line for line in stream.getvalue().splitlines() if line]
    finally:
        root.removeHandler(handler)


def test_each_request_gets_an_id_returned_in_the_response(client, db):
    first, second = client.get("/accounts/login/"), client.get("/accounts/login/")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("3f2b9c1e-55aa-4c1b-9d6e-0c8a1f2e7b44", True),
        ("Root=1-67891233-abcdef012345678912345678", True),
        ("short", False),
        ("has spaces in it, and more", False),
        ("x" * 200, False),
    ],
)
def test_a_well_formed_incoming_request_id_is_kept(client, db, sent, kept):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=sent)
    assert (response["X-Request-ID"] == sent) is kept


def test_a_json_line_carries_the_request_id_and_the_user_id(client, user, log_lines):
    client.force_login(user)
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-1234567890")
    assert response.status_code == 404
    (line,) = [json.loads(line) for line in log_lines() if "no-such-page" in line]
    assert line["level"] == "WARNING"
    assert line["logger"] == "django.request"
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["request_id"] == "req-1234567890"
    assert line["user_id"] == user.pk
    assert line["task_id"] is None
    assert "timestamp" in line


def test_no_header_or_cookie_secret_reaches_a_log_line(client, user, log_lines):
    client.force_login(user)
    session = client.cookies["sessionid"].value
    client.get(
        "/no-such-page/?code=oauth-code-9f8e7d",
        HTTP_AUTHORIZATION="Bearer header-secret-5a4b3c",
        HTTP_COOKIE=f"sessionid={session}; csrftoken=csrf-secret-1a2b3c",
    )
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer header-secret-5a4b3c")
    lines = log_lines()
    assert any("no-such-page" in line for line in lines)
    for line in lines:
        json.loads(line)
        for secret in ("header-secret-5a4b3c", "csrf-secret-1a2b3c", session, "oauth-code-9f8e7d"):
            assert secret not in line


def test_outside_a_request_a_line_has_no_ids(log_lines):
    token = context.request_id.set(None)
    try:
        logging.getLogger("apps.test").warning("plain %s", "words")
    finally:
        context.request_id.reset(token)
    (line,) = [json.loads(line) for line in log_lines()]
    assert line["message"] == "plain words"
    assert (line["request_id"], line["task_id"], line["user_id"]) == (None, None, None)


def test_the_text_format_shows_the_ids_it_has():
    record = logging.LogRecord("apps.test", logging.INFO, __file__, 1, "hello", (), None)
    tokens = [context.request_id.set("req-abcdef12"), context.user_id.set(7)]
    try:
        ContextFilter().filter(record)
    finally:
        context.user_id.reset(tokens[1])
        context.request_id.reset(tokens[0])
    formatter = logging.Formatter("%(levelname)s %(message)s%(context)s")
    assert formatter.format(record) == "INFO hello [request=req-abcdef12 user=7]"


def test_log_format_follows_the_setting(settings):
    from django.conf import settings as conf

    assert conf.LOGGING["handlers"]["console"]["formatter"] == conf.LOG_FORMAT
    assert conf.LOGGING["handlers"]["console"]["filters"] == ["context"]
