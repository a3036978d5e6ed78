"""Settings read from the environment: on/off values are checked, not guessed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from nexus.settings import env_bool

ROOT = Path(__file__).resolve().parents[2]


def start(**environ: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process, as a server start does."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.INSTALLED_APPS"],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "nexus.settings", **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("word", "value"),
    [("on", True), ("ON", True), ("true", True), ("yes", True), ("1", True)]
    + [("off", False), ("False", False), ("no", False), ("0", False)],
)
def test_on_and_off_words_are_read(monkeypatch, word, value):
    monkeypatch.setenv("NEXUS_TEST_SWITCH", word)

    assert env_bool("NEXUS_TEST_SWITCH", default=not value) is value


@pytest.mark.parametrize("word", [None, "", "  "])
def test_an_unset_or_empty_switch_takes_its_default(monkeypatch, word):
    monkeypatch.delenv("NEXUS_TEST_SWITCH", raising=False)
    if word is not None:
        monkeypatch.setenv("NEXUS_TEST_SWITCH", word)

    assert env_bool("NEXUS_TEST_SWITCH", default=True) is True
    assert env_bool("NEXUS_TEST_SWITCH", default=False) is False


def test_a_misspelled_switch_names_the_variable_and_the_accepted_values(monkeypatch):
    monkeypatch.setenv("NEXUS_TEST_SWITCH", "yess")

    with pytest.raises(ImproperlyConfigured) as error:
        env_bool("NEXUS_TEST_SWITCH", default=False)

    assert "NEXUS_TEST_SWITCH='yess'" in str(error.value)
    assert "on, true, yes, 1, off, false, no, 0" in str(error.value)


@pytest.mark.parametrize(
    "environ",
    [{"DEBUG": "of"}, {"DEBUG": "on", "DERIV_ENABLED": "yess"}],
    ids=["DEBUG", "DERIV_ENABLED"],
)
def test_a_misspelled_switch_stops_the_start(environ):
    result = start(**environ)

    assert result.returncode != 0
    name, value = list(environ.items())[-1]
    assert f"ImproperlyConfigured: {name}={value!r} is not an on/off value" in result.stderr


def test_well_spelled_switches_start():
    result = start(DEBUG="on", DERIV_ENABLED="off")

    assert result.returncode == 0, result.stderr


def test_a_trusted_proxy_that_is_not_an_address_stops_the_start():
    result = start(DEBUG="on", TRUSTED_PROXIES="10.0.0.1,proxy.internal")

    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network" in result.stderr


def database_of(module: str) -> dict:
    """The PostgreSQL settings a fresh process has after importing `module` (no connection is made)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    code = f"import json, {module}; from django.conf import settings; print(json.dumps(settings.DATABASES['default']))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **keep,
            "DJANGO_SETTINGS_MODULE": "nexus.settings",
            "DEBUG": "on",
            "DATABASE_URL": "postgres://nexus@127.0.0.1:5432/nexus",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_process_takes_its_connections_from_a_pool_and_other_processes_keep_theirs():
    web = database_of("nexus.asgi")
    assert web["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 20, "timeout": 10.0}
    assert web["CONN_MAX_AGE"] == 0

    worker = database_of("django")  # a task worker, the feed, a command: settings alone
    assert "pool" not in worker.get("OPTIONS", {})
    assert worker["CONN_MAX_AGE"] == 60


def test_the_web_processs_pool_is_not_handed_to_the_processes_it_starts():
    import nexus.asgi  # noqa: F401 - imported for its effect on the environment

    assert "DB_POOL" not in os.environ
