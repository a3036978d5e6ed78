"""The email provider is chosen by settings: Django's backends, or a provider's API through django-anymail."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = "from django.conf import settings; print(settings.EMAIL_BACKEND); print(sorted(settings.ANYMAIL))"


def load(**environ):
    import os

    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "nexus.settings", "DEBUG": "on", **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("environ", "backend"),
    [
        ({}, "django.core.mail.backends.console.EmailBackend"),
        ({"EMAIL_PROVIDER": "resend", "RESEND_API_KEY": "re_test"}, "anymail.backends.resend.EmailBackend"),
        ({"EMAIL_PROVIDER": "postmark"}, "anymail.backends.postmark.EmailBackend"),
        ({"EMAIL_PROVIDER": "smtp"}, "django.core.mail.backends.smtp.EmailBackend"),
        (
            {"EMAIL_PROVIDER": "resend", "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"},
            "django.core.mail.backends.filebased.EmailBackend",
        ),
    ],
    ids=["development", "resend", "postmark", "smtp", "backend-wins"],
)
def test_the_provider_picks_the_backend(environ, backend):
    result = load(**environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == backend
    if "RESEND_API_KEY" in environ:
        assert result.stdout.splitlines()[1] == "['RESEND_API_KEY']"


def test_an_unknown_provider_stops_the_start():
    result = load(EMAIL_PROVIDER="pigeon")
    assert result.returncode != 0
    assert "EMAIL_PROVIDER='pigeon': one of console, file, smtp, resend, postmark" in result.stderr


def test_resend_sends_through_its_api(settings):
    """Anymail's Resend backend posts the message, headers included, to Resend's API."""
    from unittest import mock

    from django.core.mail import EmailMultiAlternatives

    settings.EMAIL_BACKEND = "anymail.backends.resend.EmailBackend"
    settings.ANYMAIL = {"RESEND_API_KEY": "re_test"}
    message = EmailMultiAlternatives("Hi", "Text", "Nexus <no-reply@example.com>", ["t@example.com"])
    message.extra_headers = {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    response = mock.Mock(status_code=200, json=lambda: {"id": "abc"}, text='{"id": "abc"}')
    with mock.patch("requests.Session.request", return_value=response) as request:
        message.send()
    sent = request.call_args
    method, url = sent.kwargs["method"], sent.kwargs["url"]
    assert (method.upper(), url) == ("POST", "https://api.resend.com/emails")
    body = sent.kwargs["data"]
    assert "List-Unsubscribe-Post" in (body.decode() if isinstance(body, bytes) else body)
