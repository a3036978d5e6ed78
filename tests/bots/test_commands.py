"""`manage.py bots`: staff list, start and stop bots and flip the kill switches."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.bots.models import Bot, BotStatus, KillSwitch
from apps.notifications.models import Notification


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("bots", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_list_shows_each_bot_with_its_status_and_why_it_stopped(make_bot, user):
    running = make_bot(name="Runner")
    run("start", str(running.pk))
    make_bot(name="Idle")
    run("stop", str(running.pk))
    out, _ = run("list")
    assert "Runner — Stopped by staff" in out
    assert "Idle" in out
    assert "Runner" not in run("list", "--running")[0]


def test_start_uses_the_owners_checks_and_says_why_it_refuses(make_bot, market):
    bot = make_bot()
    market.is_active = False
    market.save()
    out, err = run("start", str(bot.pk))
    assert "closed for trading" in err
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_stop_all_stops_every_running_bot_and_tells_the_owners(make_bot):
    bots = [make_bot(name=f"Bot {i}") for i in range(3)]
    for bot in bots:
        run("start", str(bot.pk))
    out, _ = run("stop", "--all")
    assert "stopped 3 bot(s)" in out
    assert not Bot.objects.filter(status=BotStatus.RUNNING).exists()
    assert Notification.objects.filter(kind="BOT_STOPPED").count() == 3


def test_stop_needs_bots_or_all(db):
    with pytest.raises(CommandError, match="--all"):
        run("stop")


def test_the_global_kill_switch_stops_every_bot_and_refuses_starts_until_released(make_bot):
    bot = make_bot()
    run("start", str(bot.pk))
    out, _ = run("kill-switch", "on", "--reason", "Upstream incident")
    assert "the global kill switch is ON; 1 bot(s) stopped" in out
    assert Bot.objects.get(pk=bot.pk).stopped_reason == "GLOBAL_KILL_SWITCH"
    assert "ON (Upstream incident)" in run("kill-switch", "status")[0]
    assert "global kill switch is on" in run("start", str(bot.pk))[1]
    run("kill-switch", "off")
    assert KillSwitch.objects.get(user=None).engaged is False
    assert "running" in run("start", str(bot.pk))[0]


def test_a_users_kill_switch_from_the_command(make_bot, user):
    bot = make_bot()
    run("start", str(bot.pk))
    out, _ = run("kill-switch", "on", "--user", user.email)
    assert f"{user.email}'s kill switch is ON; 1 bot(s) stopped" in out
    with pytest.raises(CommandError, match="No user"):
        run("kill-switch", "on", "--user", "nobody@example.com")
