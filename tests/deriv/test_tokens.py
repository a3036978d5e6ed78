"""Deriv tokens at rest: encrypted, rotatable, and never in a log line, a page or the session."""

import logging
from io import StringIO

import pytest
from allauth.socialaccount.models import SocialToken
from cryptography.fernet import Fernet
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from apps.deriv import crypto, services
from apps.deriv.models import DerivLink

from .support import link_user
from .test_oauth import at_deriv, callback, complete_sign_up, sign_in, start


def stored_columns(user) -> tuple[str, str]:
    with connection.cursor() as cursor:
        table = DerivLink._meta.db_table
        cursor.execute(
            f"SELECT access_token_encrypted, refresh_token_encrypted FROM {table} WHERE user_id = %s", [user.pk]
        )
        return cursor.fetchone()


def test_the_database_holds_only_ciphertext(client, deriv_on):
    sign_in(client)
    user = complete_sign_up(client)
    issued = deriv_on.issued_secrets()
    access, refresh = stored_columns(user)
    assert access and refresh
    for column in (access, refresh):
        assert not [s for s in issued if s in column]
        assert column.startswith("gAAAA")  # a Fernet token
    link = DerivLink.objects.get(user=user)
    assert link.access_token in issued and link.refresh_token in issued
    # Without keys in the environment, the key is derived from SECRET_KEY.
    from django.conf import settings

    assert Fernet(crypto.development_key(settings.SECRET_KEY)).decrypt(access.encode()).decode() == link.access_token
    assert not SocialToken.objects.exists()
    assert link.access_token not in repr(link) and link.access_token not in str(link)


def test_configured_keys_encrypt_and_the_first_one_is_the_newest(settings, db):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [new.decode(), old.decode()]}
    encrypted = crypto.encrypt("secret-value")
    assert Fernet(new).decrypt(encrypted.encode()) == b"secret-value"
    legacy = Fernet(old).encrypt(b"older").decode()
    assert crypto.decrypt(legacy) == "older"
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [Fernet.generate_key().decode()]}
    with pytest.raises(crypto.TokenDecryptError):
        crypto.decrypt(encrypted)


def test_rotate_deriv_keys_re_encrypts_every_token_with_the_newest_key(settings, user, demo_account, deriv_on):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [old]}
    link = link_user(user, deriv_on, refresh_token="ory_rt_a-refresh-token-value")
    token = link.access_token
    before = stored_columns(user)
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [new, old]}
    out = StringIO()
    call_command("rotate_deriv_keys", stdout=out)
    assert "1 Deriv link" in out.getvalue()
    after = stored_columns(user)
    assert after[0] != before[0] and after[1] != before[1]
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [new]}  # the old key can go now
    link.refresh_from_db()
    assert link.access_token == token and link.refresh_token == "ory_rt_a-refresh-token-value"
    services.deriv_accounts_sync(user=user)  # and the token still works at Deriv


def test_rotate_deriv_keys_fails_loudly_on_a_token_no_key_reads(settings, user, demo_account, deriv_on):
    link_user(user, deriv_on)
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [Fernet.generate_key().decode()]}
    with pytest.raises(CommandError, match="could not be read"):
        call_command("rotate_deriv_keys", stdout=StringIO(), stderr=StringIO())


def test_an_unreadable_token_disconnects_with_a_reason(settings, user, demo_account, deriv_on):
    link_user(user, deriv_on)
    settings.DERIV = {**settings.DERIV, "FERNET_KEYS": [Fernet.generate_key().decode()]}
    with pytest.raises(crypto.TokenDecryptError):
        services.deriv_accounts_sync(user=user)
    assert DerivLink.objects.get(user=user).reason == services.REASON_KEYS


def test_the_admin_shows_link_state_but_no_token(admin_client, user, demo_account, deriv_on):
    link = link_user(user, deriv_on)
    html = admin_client.get(reverse("admin:deriv_derivlink_change", args=[link.pk])).content.decode()
    assert "Connected" in html
    assert link.access_token not in html and link.access_token_encrypted not in html


def test_no_token_code_or_verifier_reaches_a_log_a_page_or_the_session(client, deriv_on, settings, caplog):
    """Every OAuth path, with everything logged at DEBUG: no secret Deriv handed out shows up."""
    caplog.set_level(logging.DEBUG)
    for name in ("apps", "apps.deriv", "allauth", "django", "django.request", "urllib3", "tests.fakes.deriv"):
        caplog.set_level(logging.DEBUG, logger=name)
    # Except the template engine's DEBUG dump of whole contexts on a missing variable: it prints
    # the request, and the callback's URL carries the (single-use, PKCE-bound) code by design.
    caplog.set_level(logging.INFO, logger="django.template")
    pages: list[str] = []

    def keep(response):
        pages.append(response.content.decode(errors="replace"))
        pages.append(response.get("Location", ""))
        return response

    # A first sign-in, held at the sign-up form (the session holds the pending login), then completed.
    keep(sign_in(client))
    sessions_while_pending = [s.session_data for s in Session.objects.all()]
    pages.append(client.get(reverse("socialaccount_signup")).content.decode())
    user = complete_sign_up(client)
    keep(client.get(reverse("deriv:accounts")))
    keep(client.get(reverse("trading:trade")))
    # Signing in again; a replayed callback; a forged state; cancelling; invalid_grant.
    client.logout()
    params = at_deriv(start(client))
    keep(callback(client, params))
    keep(callback(client, params))
    client.logout()
    keep(callback(client, {**at_deriv(start(client)), "state": "forged"}))
    deriv_on.oauth_mode = "deny"
    keep(sign_in(client))
    deriv_on.oauth_mode = "approve"
    deriv_on.fail_next("token", "invalid_grant")
    keep(sign_in(client))
    # Deriv refusing an existing link: a token without trade, an expired one refreshed, 429.
    keep(sign_in(client))
    link = DerivLink.objects.get(user=user)
    deriv_on.expire_token(link.access_token)
    keep(client.post(reverse("deriv:refresh"), follow=True))
    deriv_on.fail_next("accounts", "TooManyRequests", status=429)
    keep(client.post(reverse("deriv:refresh"), follow=True))
    services.deriv_link_store(
        user=user, access_token_encrypted=crypto.encrypt(deriv_on.issue_token(scopes=("account_manage",)))
    )
    keep(client.post(reverse("deriv:refresh"), follow=True))
    keep(client.post(reverse("deriv:reset", args=[user.trading_accounts.get(type="DERIV_DEMO").pk]), follow=True))

    verifiers = {r["code_verifier"] for r in deriv_on.token_requests if r.get("code_verifier")}
    secrets = deriv_on.issued_secrets() | verifiers
    assert len(verifiers) == 3 and len(secrets) > 10
    assert "Deriv sign-in failed" in caplog.text and "disconnected" in caplog.text  # the paths did log
    leaked = [s for s in secrets if s in caplog.text]
    assert not leaked, f"{len(leaked)} secrets in the logs"
    # Deriv's redirect to the callback carries the code by design; nothing Nexus answers does.
    shown = "\n".join(pages)
    assert not [s for s in secrets if s in shown], "a secret in a page or a redirect"
    stored = "\n".join(sessions_while_pending + [s.session_data for s in Session.objects.all()])
    decoded = "\n".join(str(s.get_decoded()) for s in Session.objects.all())
    assert not [s for s in secrets if s in stored or s in decoded], "a secret in a session"
