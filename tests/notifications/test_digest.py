"""The daily summary: 07:00 in each trader's own zone, the local day before, once a day, across DST changes."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from apps.notifications.digest import digests_send, local_day_bounds
from apps.notifications.models import Channel, Kind, Notification, NotificationPreferences, OutboxEmail
from apps.trading.models import Contract
from apps.trading.services import contract_buy
from apps.users.models import User
from tests.bots.conftest import make_bot, market  # noqa: F401


def trader(email, zone, channel=Channel.EMAIL, paid=True):
    from apps.billing.models import Plan, Source, Status, Subscription

    user = User.objects.create_user(email, "pw-for-tests-123", time_zone=zone)
    NotificationPreferences.objects.create(user=user, daily_summary=channel)
    if paid:
        plan = Plan.objects.get(code="basic")
        Subscription.objects.create(user=user, plan=plan, source=Source.GRANT, status=Status.ACTIVE)
    return user


def at(*args, tz="UTC"):
    return datetime(*args, tzinfo=ZoneInfo(tz))


def test_each_trader_gets_the_summary_at_seven_in_their_own_zone(db):
    tokyo = trader("tokyo@example.com", "Asia/Tokyo")
    york = trader("york@example.com", "America/New_York")
    kolkata = trader("kolkata@example.com", "Asia/Kolkata")  # UTC+5:30
    assert digests_send(at(2026, 1, 1, 21, 59)) == 0  # 06:59 in Tokyo
    assert digests_send(at(2026, 1, 1, 22, 0)) == 1  # 07:00 in Tokyo
    assert Notification.objects.get().user == tokyo
    assert digests_send(at(2026, 1, 2, 1, 29)) == 0  # 06:59 in Kolkata
    assert digests_send(at(2026, 1, 2, 1, 30)) == 1
    assert digests_send(at(2026, 1, 2, 12, 0)) == 1  # 07:00 in New York
    assert set(Notification.objects.values_list("user", flat=True)) == {tokyo.pk, york.pk, kolkata.pk}
    # Summaries of their own yesterday: 1 January in each zone.
    assert set(OutboxEmail.objects.values_list("dedupe_key", flat=True)) == {
        f"digest:{u.pk}:2026-01-01" for u in (tokyo, york, kolkata)
    }


def test_never_two_summaries_for_one_day(db):
    trader("tokyo@example.com", "Asia/Tokyo")
    assert digests_send(at(2026, 1, 1, 22, 0)) == 1
    assert digests_send(at(2026, 1, 1, 22, 1)) == 0
    assert digests_send(at(2026, 1, 2, 1, 0)) == 0  # 10:00 in Tokyo, same day
    NotificationPreferences.objects.update(digest_sent_on=None)  # even if the claim were lost, the key holds
    digests_send(at(2026, 1, 1, 22, 5))
    assert OutboxEmail.objects.count() == 1
    assert digests_send(at(2026, 1, 2, 22, 0)) == 1  # the next day


def test_a_missed_seven_oclock_is_caught_up_until_noon_then_skipped(db):
    trader("york@example.com", "America/New_York")
    assert digests_send(at(2026, 1, 2, 17, 0)) == 0  # noon in New York: too late for today
    assert digests_send(at(2026, 1, 3, 15, 30)) == 1  # 10:30: the worker came back


def test_off_and_in_app_and_plan_without_email(db, free_plan_by_default):
    trader("off@example.com", "UTC", channel=Channel.OFF)
    in_app = trader("inapp@example.com", "UTC", channel=Channel.IN_APP)
    free = trader("free@example.com", "UTC", paid=False)
    assert digests_send(at(2026, 1, 2, 7, 0)) == 2
    assert set(Notification.objects.values_list("user", flat=True)) == {in_app.pk, free.pk}
    assert not OutboxEmail.objects.exists()


def _settled(account, feed, n):
    contracts = [
        contract_buy(
            user=account.user,
            account=account,
            market=feed.markets_by_symbol["OTC_EUR_USD"],
            direction="RISE",
            stake=Decimal("10.00"),
            duration=1,
            duration_unit="t",
            idempotency_key=f"d{i}",
        )
        for i in range(n)
    ]
    feed.tick(3)
    for c in contracts:
        c.refresh_from_db()
        assert c.amount_paid is not None
    return contracts


def test_the_summary_counts_the_local_day_across_the_spring_forward(user, demo_account, feed):
    """New York springs forward on 8 March 2026: that local day lasts 23 hours."""
    User.objects.filter(pk=user.pk).update(time_zone="America/New_York")
    NotificationPreferences.objects.create(user=user, daily_summary=Channel.EMAIL)
    from apps.billing.models import Plan, Source, Status, Subscription

    Subscription.objects.create(
        user=user, plan=Plan.objects.get(code="basic"), source=Source.GRANT, status=Status.ACTIVE
    )
    start, end = local_day_bounds(datetime(2026, 3, 8).date(), ZoneInfo("America/New_York"))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert (start.astimezone(UTC).hour, end.astimezone(UTC).hour) == (5, 4)
    before, inside, after = _settled(demo_account, feed, 3)
    times = {before.pk: at(2026, 3, 8, 4, 30), inside.pk: at(2026, 3, 9, 3, 30), after.pk: at(2026, 3, 9, 4, 30)}
    for pk, when in times.items():
        Contract.objects.filter(pk=pk).update(settled_at=when)
    # 07:00 EDT on 9 March is 11:00 UTC (07:00 EST was 12:00 UTC the day before).
    assert digests_send(at(2026, 3, 9, 10, 59)) == 0
    assert digests_send(at(2026, 3, 9, 11, 0)) == 1
    email = OutboxEmail.objects.get()
    net = inside.amount_paid - inside.stake
    assert "Trades settled: 1 (" in email.body_text
    sign = "+" if net >= 0 else ""
    assert f"Net P&L: {sign}{net:,.2f} USD" in email.body_text
    assert email.subject.startswith("Nexus: Your day, Sun 8 Mar: 1 trade")
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_fall_back_day_lasts_25_hours_and_the_summary_fires_at_local_seven(db):
    london = ZoneInfo("Europe/London")
    start, end = local_day_bounds(datetime(2026, 10, 25).date(), london)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)
    user = trader("london@example.com", "Europe/London")
    assert digests_send(at(2026, 10, 24, 5, 59)) == 0  # 06:59 BST
    assert digests_send(at(2026, 10, 24, 6, 0)) == 1  # 07:00 BST
    # Clocks go back at 01:00 UTC on the 25th: 07:00 is now 07:00 UTC.
    assert digests_send(at(2026, 10, 25, 6, 0)) == 0  # 06:00 GMT
    assert digests_send(at(2026, 10, 25, 6, 59)) == 0  # 06:59 GMT
    assert digests_send(at(2026, 10, 25, 7, 0)) == 1  # 07:00 GMT
    assert Notification.objects.filter(user=user, kind=Kind.DAILY_SUMMARY).count() == 2


def test_the_summary_lists_the_bots_running_and_those_stopped_that_day(paid, make_bot):  # noqa: F811
    from apps.bots.models import Bot
    from apps.bots.services import bot_start
    from apps.bots.services.bots import bots_stop

    User.objects.filter(pk=paid.pk).update(time_zone="UTC")
    NotificationPreferences.objects.create(user=paid, daily_summary=Channel.EMAIL, bot_stopped=Channel.OFF)
    running, stopped = make_bot(name="Runner"), make_bot(name="Quitter")
    bot_start(user=paid, bot_id=running.pk)
    bot_start(user=paid, bot_id=stopped.pk)
    bots_stop(bot_ids=[stopped.pk], reason="BY_STAFF", detail="Review.")
    Bot.objects.filter(pk=stopped.pk).update(stopped_at=at(2026, 1, 1, 12, 0))
    digests_send(at(2026, 1, 2, 7, 0))
    body = OutboxEmail.objects.get().body_text
    assert "Bots running: 1" in body
    assert "Bot Quitter: Stopped by staff" in body
