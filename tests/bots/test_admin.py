"""Staff stop bots and flip the global kill switch from the Django admin."""

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.bots.models import Bot, BotStatus, KillSwitch
from apps.bots.services import bot_start

CHANGELIST = reverse("admin:bots_bot_changelist")


def act(admin_client, action, bots):
    return admin_client.post(CHANGELIST, {"action": action, "_selected_action": [b.pk for b in bots]}, follow=True)


def test_the_global_kill_switch_action_stops_every_running_bot(admin_client, admin_user, make_bot, user):
    bots = [bot_start(user=user, bot_id=make_bot(name=f"Bot {i}").pk) for i in range(2)]
    response = act(admin_client, "engage_global_kill_switch", bots[:1])
    assert "Global kill switch engaged: 2 bot(s) stopped." in response.content.decode()
    assert set(Bot.objects.values_list("status", "stopped_reason")) == {(BotStatus.STOPPED, "GLOBAL_KILL_SWITCH")}
    assert KillSwitch.objects.get(user=None).changed_by == admin_user
    assert AuditEvent.objects.filter(action="bot.kill_switch.engage", actor=admin_user).exists()

    act(admin_client, "release_global_kill_switch", bots[:1])
    assert KillSwitch.objects.get(user=None).engaged is False


def test_staff_can_stop_selected_bots(admin_client, make_bot, user):
    running = bot_start(user=user, bot_id=make_bot().pk)
    response = act(admin_client, "stop_bots", [running])
    assert "Stopped 1 bot(s)." in response.content.decode()
    assert Bot.objects.get(pk=running.pk).stopped_reason == "BY_STAFF"


def test_bot_pages_in_the_admin_load(admin_client, make_bot):
    bot = make_bot()
    assert admin_client.get(CHANGELIST).status_code == 200
    assert admin_client.get(reverse("admin:bots_bot_change", args=[bot.pk])).status_code == 200


def test_bots_cannot_be_deleted_only_stopped(admin_client, make_bot, user):
    bot = bot_start(user=user, bot_id=make_bot().pk)

    assert admin_client.post(reverse("admin:bots_bot_delete", args=[bot.pk]), {"post": "yes"}).status_code == 403
    response = act(admin_client, "delete_selected", [bot])
    assert "No action selected" in response.content.decode()
    assert Bot.objects.filter(pk=bot.pk).exists()
    actions = admin_client.get(CHANGELIST).context["action_form"]
    assert "delete_selected" not in dict(actions.fields["action"].choices)
    assert "stop_bots" in dict(actions.fields["action"].choices)
