"""`check --deploy` warns when Deriv tokens would be encrypted with a key derived from SECRET_KEY."""

from django.core import checks

from apps.deriv.checks import W001


def deploy_warnings():
    return [m for m in checks.run_checks(include_deployment_checks=True) if m.id == W001.id]


def test_deriv_on_without_fernet_keys_warns(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": True, "FERNET_KEYS": []}

    assert deploy_warnings() == [W001]


def test_blank_keys_count_as_none(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": True, "FERNET_KEYS": [" "]}

    assert deploy_warnings() == [W001]


def test_deriv_on_with_keys_is_clean(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": True, "FERNET_KEYS": ["a-key"]}

    assert deploy_warnings() == []


def test_deriv_off_is_clean(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": False, "FERNET_KEYS": []}

    assert deploy_warnings() == []


def test_only_a_deploy_check(settings):
    settings.DERIV = {**settings.DERIV, "ENABLED": True, "FERNET_KEYS": []}

    assert [m for m in checks.run_checks() if m.id == W001.id] == []
