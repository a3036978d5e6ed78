"""Live socket limits: messages per second, sockets per user, and sockets that close when their session ends."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse

from apps.realtime.consumers import LiveConsumer
from apps.realtime.limits import MessageRate, session_digest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer():
    async_to_sync(get_channel_layer().flush)()


def run(scenario):
    async_to_sync(scenario)()


def communicator(user, session_key: str | None = None) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/")
    comm.scope["user"] = user
    if session_key:
        comm.scope["session"] = SessionStore(session_key=session_key)
    return comm


async def closed_with(comm) -> tuple[int, str] | None:
    """The code and reason the server closed the socket with (None if it stays open), skipping pushes."""
    while not await comm.receive_nothing(timeout=0.5):
        output = await comm.receive_output()
        if output["type"] == "websocket.close":
            return output.get("code"), output.get("reason", "")
    return None


async def open_socket(user, session_key=None) -> WebsocketCommunicator:
    comm = communicator(user, session_key)
    connected, _ = await comm.connect()
    assert connected
    return comm


def test_the_limits_are_settings_with_their_defaults(settings):
    assert settings.WS_LIMITS == {"MESSAGES_PER_SECOND": 20, "SOCKETS_PER_USER": 10}


def test_a_message_rate_counts_each_second_apart():
    rate = MessageRate(per_second=2)
    assert [rate.allow(now=10.1), rate.allow(now=10.5), rate.allow(now=10.9)] == [True, True, False]
    assert rate.allow(now=11.0)


def test_too_many_messages_close_the_socket_with_the_reason(demo_account, settings):
    settings.WS_LIMITS = settings.WS_LIMITS | {"MESSAGES_PER_SECOND": 5}

    async def scenario():
        comm = await open_socket(demo_account.user)
        assert await closed_with(comm) is None
        # Eleven at once: whichever second they fall in, one second gets more than five.
        for _ in range(11):
            await comm.send_to(text_data=json.dumps({"what": "ever"}))
        assert await closed_with(comm) == (4429, "too many messages")
        await comm.disconnect()

    run(scenario)


def test_a_calm_socket_stays_open(demo_account, settings):
    settings.WS_LIMITS = settings.WS_LIMITS | {"MESSAGES_PER_SECOND": 5}

    async def scenario():
        comm = await open_socket(demo_account.user)
        await closed_with(comm)
        for _ in range(4):
            await comm.send_to(text_data=json.dumps({"resync": True}))
        assert await closed_with(comm) is None
        await comm.disconnect()

    run(scenario)


def test_a_socket_past_the_users_limit_is_closed_and_a_freed_place_is_taken_again(demo_account, other_user, settings):
    settings.WS_LIMITS = settings.WS_LIMITS | {"SOCKETS_PER_USER": 2}
    user = demo_account.user

    async def scenario():
        first, second = await open_socket(user), await open_socket(user)
        third = await open_socket(user)
        assert await closed_with(third) == (4429, "too many live connections for this user")
        await third.disconnect()
        assert await closed_with(first) is None and await closed_with(second) is None
        # Another user's sockets are counted apart.
        theirs = await open_socket(other_user)
        assert await closed_with(theirs) is None
        # A closed socket frees its place.
        await first.disconnect()
        fourth = await open_socket(user)
        assert await closed_with(fourth) is None
        for comm in (second, fourth, theirs):
            await comm.disconnect()

    run(scenario)


def test_signing_out_closes_that_sessions_sockets_only(client, demo_account):
    user = demo_account.user
    client.force_login(user)
    elsewhere = SessionStore()
    elsewhere.create()

    async def scenario():
        signed_out = await open_socket(user, client.session.session_key)
        other_session = await open_socket(user, elsewhere.session_key)
        for comm in (signed_out, other_session):
            await closed_with(comm)
        response = await database_sync_to_async(client.post)(reverse("account_logout"))
        assert response.status_code == 302
        assert await closed_with(signed_out) == (4401, "session ended")
        assert await closed_with(other_session) is None
        await signed_out.disconnect()
        await other_session.disconnect()

    run(scenario)


def test_a_password_change_closes_every_socket_of_the_user(client, demo_account, other_user):
    user = demo_account.user
    user.set_password("correct horse battery staple")
    user.save()
    client.force_login(user)

    async def scenario():
        mine = await open_socket(user, client.session.session_key)
        theirs = await open_socket(other_user)
        for comm in (mine, theirs):
            await closed_with(comm)
        response = await database_sync_to_async(client.post)(
            reverse("account_change_password"),
            {
                "oldpassword": "correct horse battery staple",
                "password1": "a different long passphrase",
                "password2": "a different long passphrase",
            },
        )
        assert response.status_code == 302, response.content.decode()[-2000:]
        assert await closed_with(mine) == (4401, "session ended")
        assert await closed_with(theirs) is None
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_a_password_set_by_staff_in_the_admin_closes_every_socket_of_that_user(admin_client, demo_account, other_user):
    user = demo_account.user

    async def scenario():
        mine = await open_socket(user)
        theirs = await open_socket(other_user)
        for comm in (mine, theirs):
            await closed_with(comm)
        response = await database_sync_to_async(admin_client.post)(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {"password1": "a different long passphrase", "password2": "a different long passphrase"},
        )
        assert response.status_code == 302, response.content.decode()[-2000:]
        assert await closed_with(mine) == (4401, "session ended")
        assert await closed_with(theirs) is None
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_only_a_saved_new_password_closes_the_sockets(demo_account):
    user = demo_account.user

    async def scenario():
        comm = await open_socket(user)
        await closed_with(comm)

        def save_other_fields():
            user.first_name = "Ada"
            user.save()
            user.save(update_fields=["last_login"])

        await database_sync_to_async(save_other_fields)()
        assert await closed_with(comm) is None

        def set_password():
            user.set_password("a different long passphrase")
            user.save()

        await database_sync_to_async(set_password)()
        assert await closed_with(comm) == (4401, "session ended")
        await comm.disconnect()

    run(scenario)


def test_the_session_key_never_goes_on_the_layer():
    digest = session_digest("abc123")
    assert "abc123" not in digest and len(digest) == 32
    assert session_digest(None) == ""
