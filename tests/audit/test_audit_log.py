"""The audit trail: who did what to which object, from where; written once, never edited."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import RequestFactory

from apps.audit.models import AuditEvent
from apps.audit.services import audit_log, client_ip


@pytest.fixture
def rf():
    return RequestFactory()


def test_an_event_records_the_actor_action_target_and_data(user, demo_account):
    event = audit_log(actor=user, action="account.test", target=demo_account, data={"why": "because"})

    event.refresh_from_db()
    assert (event.actor, event.action, event.data) == (user, "account.test", {"why": "because"})
    assert (event.target_type, event.target_id, event.target_repr) == (
        "accounts.tradingaccount",
        str(demo_account.pk),
        str(demo_account),
    )
    assert event.created_at is not None


def test_an_event_without_a_target_or_data_stores_empty_values(user):
    event = audit_log(actor=user, action="user.something")

    assert (event.target_type, event.target_id, event.target_repr, event.data, event.ip) == ("", "", "", {}, None)


@pytest.mark.parametrize("actor", [None, AnonymousUser()], ids=["none", "anonymous"])
def test_an_anonymous_actor_is_stored_as_no_actor(db, actor):
    assert audit_log(actor=actor, action="user.login_failed").actor is None


def test_a_long_target_description_is_cut_to_fit(user):
    user.email = "x" * 250 + "@example.com"

    event = audit_log(actor=None, action="user.renamed", target=user)

    assert len(event.target_repr) == 200


def test_the_ip_comes_from_the_remote_address(rf):
    assert client_ip(rf.get("/", REMOTE_ADDR="192.0.2.10")) == "192.0.2.10"


def test_a_forwarded_for_header_from_an_untrusted_client_is_ignored(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = rf.get("/", REMOTE_ADDR="203.0.113.50", HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert client_ip(request) == "203.0.113.50"


def test_without_trusted_proxies_the_header_is_never_read(rf, settings):
    settings.TRUSTED_PROXIES = []
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert client_ip(request) == "10.0.0.1"


def test_through_a_trusted_proxy_the_ip_is_the_hop_it_appended(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    # The client wrote 198.51.100.7 itself; the proxy appended the address it saw.
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9")

    assert client_ip(request) == "203.0.113.9"


def test_hops_added_by_further_trusted_proxies_are_stepped_over(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9, 10.0.0.5")

    assert client_ip(request) == "203.0.113.9"


def test_a_trusted_proxy_without_a_forwarded_address_is_the_client(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]

    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"


def test_a_spoofed_address_through_a_trusted_proxy_is_not_audited(user, rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    request = rf.post("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9")

    event = audit_log(actor=user, action="x", request=request)

    assert AuditEvent.objects.get(pk=event.pk).ip == "203.0.113.9"


def test_there_is_no_ip_without_a_request_or_an_address(rf):
    request = rf.get("/")
    request.META.pop("REMOTE_ADDR", None)

    assert client_ip(None) is None
    assert client_ip(request) is None


def test_an_event_stores_the_requests_ip(user, rf):
    event = audit_log(actor=user, action="x", request=rf.post("/", REMOTE_ADDR="2001:db8::1"))

    assert AuditEvent.objects.get(pk=event.pk).ip == "2001:db8::1"


def test_audit_events_are_append_only(user):
    event = audit_log(actor=user, action="original")
    event.action = "rewritten"

    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["action"])

    assert AuditEvent.objects.get(pk=event.pk).action == "original"


def test_deleting_a_user_keeps_their_events_without_the_actor(user):
    event = audit_log(actor=user, action="user.did_something")

    user.delete()

    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor, event.action) == (None, "user.did_something")


def test_events_list_newest_first(user):
    first = audit_log(actor=user, action="first")
    second = audit_log(actor=user, action="second")

    assert list(AuditEvent.objects.filter(pk__in=[first.pk, second.pk])) == [second, first]
