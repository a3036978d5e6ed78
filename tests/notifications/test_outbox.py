"""The outbox: written with the event, sent after commit, once, retried with backoff, kept when it keeps failing."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from apps.notifications.email import Email, emails_queue, outbox_retry, outbox_send, outbox_sweep
from apps.notifications.models import OutboxEmail, OutboxStatus, Topic
from tests.support.threads import run_threads


def _email(user, **kw):
    return Email(user.pk, user.email, Topic.BOT_STOPPED, "notice", {"title": "Bot A stopped", "body": "Limit."}, **kw)


def test_an_email_is_rendered_in_text_and_html_with_the_one_click_unsubscribe_headers(user):
    (pk,) = emails_queue([_email(user)])
    row = OutboxEmail.objects.get(pk=pk)
    assert row.subject == "Nexus: Bot A stopped"
    assert "Hello from Nexus!" in row.body_text and "Limit." in row.body_text
    assert "<p>Limit.</p>" in row.body_html
    assert row.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert row.headers["List-Unsubscribe"].startswith("<http://localhost:8000/unsubscribe/")
    assert row.headers["List-Unsubscribe"][1:-1] in row.body_text
    outbox_send([pk])
    (message,) = mail.outbox
    assert message.to == [user.email]
    assert message.alternatives[0].mimetype == "text/html"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_security_emails_carry_no_unsubscribe(user):
    (pk,) = emails_queue([Email(user.pk, user.email, Topic.SECURITY, "notice", {"title": "New sign-in"})])
    row = OutboxEmail.objects.get(pk=pk)
    assert row.headers == {} and "Unsubscribe" not in row.body_text


def test_the_email_is_handed_to_the_worker_only_after_commit(user, django_capture_on_commit_callbacks):
    with mock.patch("django_q.tasks.async_task") as enqueue:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            (pk,) = emails_queue([_email(user)])
            assert not enqueue.called
        assert len(callbacks) == 1
    enqueue.assert_called_once_with("apps.notifications.tasks.outbox_send", [pk], group="email")


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(user):
    with mock.patch("django_q.tasks.async_task") as enqueue, pytest.raises(RuntimeError), transaction.atomic():
        emails_queue([_email(user)])
        raise RuntimeError("the event failed")
    assert not enqueue.called
    assert not OutboxEmail.objects.exists()
    assert outbox_sweep() == 0
    assert mail.outbox == []


@pytest.mark.dbsensitive
@pytest.mark.django_db(transaction=True)
def test_two_workers_send_each_email_once(user):
    with mock.patch("django_q.tasks.async_task"):
        ids = emails_queue([_email(user) for _ in range(20)])
    results, errors = run_threads(2, lambda i: outbox_send(ids if i == 0 else list(reversed(ids))))
    assert errors == []
    assert sum(results) == 20
    assert len(mail.outbox) == 20
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
    assert outbox_sweep() == 0 and len(mail.outbox) == 20


class Flaky:
    def __init__(self, failures):
        self.failures = failures

    def __call__(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("provider down")
        return 1


def test_a_failure_is_retried_later_with_exponential_backoff(user, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "OUTBOX_BACKOFF_S": 60.0}
    (pk,) = emails_queue([_email(user)])
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", Flaky(2)):
        assert outbox_sweep() == 0
        row = OutboxEmail.objects.get(pk=pk)
        assert (row.status, row.attempts, row.last_error) == (OutboxStatus.PENDING, 1, "ConnectionError: provider down")
        first_wait = row.next_attempt_at - timezone.now()
        assert timedelta(seconds=55) < first_wait <= timedelta(seconds=60)
        assert outbox_sweep() == 0  # not due yet: nothing tried
        assert OutboxEmail.objects.get(pk=pk).attempts == 1
        OutboxEmail.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
        assert outbox_sweep() == 0
        second_wait = OutboxEmail.objects.get(pk=pk).next_attempt_at - timezone.now()
        assert timedelta(seconds=115) < second_wait <= timedelta(seconds=120)
        OutboxEmail.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
        assert outbox_sweep() == 1
    row = OutboxEmail.objects.get(pk=pk)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 3, "")


def test_five_failures_keep_the_email_as_failed_and_it_is_not_retried(user, admin_client):
    (pk,) = emails_queue([_email(user)])
    with mock.patch("django.core.mail.EmailMultiAlternatives.send", side_effect=OSError("refused")) as send:
        for _ in range(7):
            OutboxEmail.objects.filter(pk=pk, status=OutboxStatus.PENDING).update(next_attempt_at=timezone.now())
            outbox_sweep()
        assert send.call_count == 5
    row = OutboxEmail.objects.get(pk=pk)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 5)
    # Staff see it, and why, in the admin; "send again" gives it a fresh set of attempts.
    page = admin_client.get("/admin/notifications/outboxemail/?status__exact=FAILED").content.decode()
    assert "OSError: refused" in page and "Bot A stopped" in page
    response = admin_client.post(
        "/admin/notifications/outboxemail/", {"action": "send_again", "_selected_action": [pk]}
    )
    assert response.status_code == 302
    assert OutboxEmail.objects.get(pk=pk).status == OutboxStatus.PENDING
    assert outbox_sweep() == 1 and len(mail.outbox) == 1


def test_an_email_whose_worker_died_while_sending_goes_to_staff_not_out_again(user):
    (pk,) = emails_queue([_email(user)])
    OutboxEmail.objects.filter(pk=pk).update(
        status=OutboxStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert outbox_sweep() == 0
    row = OutboxEmail.objects.get(pk=pk)
    assert row.status == OutboxStatus.FAILED and "may have been sent" in row.last_error
    assert mail.outbox == []


def test_retry_only_touches_failed_emails(user):
    (pk,) = emails_queue([_email(user)])
    assert outbox_retry([pk]) == 0
    assert OutboxEmail.objects.get(pk=pk).attempts == 0


def test_a_dedupe_key_writes_one_email(user):
    emails_queue([_email(user, dedupe_key="digest:1:2026-01-01")])
    emails_queue([_email(user, dedupe_key="digest:1:2026-01-01")])
    assert OutboxEmail.objects.count() == 1


def test_retention_deletes_old_sent_and_failed_emails_and_keeps_those_to_send(user):
    from apps.notifications.services import notifications_purge

    ids = emails_queue([_email(user) for _ in range(3)])
    old = timezone.now() - timedelta(days=100)
    OutboxEmail.objects.filter(pk=ids[0]).update(status=OutboxStatus.SENT, created_at=old)
    OutboxEmail.objects.filter(pk=ids[1]).update(status=OutboxStatus.FAILED, created_at=old)
    OutboxEmail.objects.filter(pk=ids[2]).update(created_at=old)
    notifications_purge(before=timezone.now() - timedelta(days=90))
    assert list(OutboxEmail.objects.values_list("pk", flat=True)) == [ids[2]]


def test_a_security_notice_is_written_even_if_the_row_says_off(user):
    from apps.notifications.models import Kind, Notification, NotificationPreferences
    from apps.notifications.services import notification_create

    NotificationPreferences.objects.create(user=user, security="off")
    assert notification_create(user=user, kind=Kind.SECURITY, title="New sign-in") is not None
    assert Notification.objects.count() == 1
