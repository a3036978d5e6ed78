"""Pushed bot fragments carry no form (a push has no request, so no CSRF token).

Start/Stop still work, with and without JavaScript.
"""

import logging
import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.bots.fragments import bots_fragments
from apps.bots.models import BotStatus
from apps.bots.services import bot_start, kill_switch_set
from apps.realtime.push import render_user_state

HX = {"HX-Request": "true"}


def forms_without_a_token(html: str) -> list[str]:
    forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
    return [f for f in forms if not re.search(r'name="csrfmiddlewaretoken" value="[^"]+"', f)]


@pytest.mark.django_db
def test_the_pushed_state_has_no_form_and_logs_no_csrf_warning(user, demo_account, make_bot, caplog):
    running, stopped = make_bot(name="Runs"), make_bot(name="Rests")
    bot_start(user=user, bot_id=running.pk)
    kill_switch_set(engaged=True, reason="maintenance")
    with caplog.at_level(logging.DEBUG, logger="django.template"):
        parts = render_user_state(user)
    pushed = "".join(parts.values())
    assert {f"bots.{running.pk}", f"bots.{stopped.pk}", "bots.kill"} <= set(parts)
    assert "<form" not in pushed
    assert "csrf_token" not in caplog.text
    assert set(bots_fragments(user)) == {f"bots.{running.pk}", f"bots.{stopped.pk}", "bots.kill"}


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["bots:list", "bots:detail"])
def test_every_form_on_the_bots_pages_has_a_token_and_start_stop_follow_the_status(trader, make_bot, url_name):
    bot = make_bot()
    url = reverse(url_name) if url_name == "bots:list" else reverse(url_name, args=[bot.pk])
    body = trader.get(url).content.decode()
    assert forms_without_a_token(body) == []
    # Start and Stop sit right after the live part, whose status class picks the one shown (app.css).
    assert re.search(
        rf'<div id="bot-live-{bot.pk}" class="bot-live bot-live--stopped".*?</div>\s*<form id="bot-actions-{bot.pk}"',
        body,
        re.S,
    )
    assert re.search(
        r'<section id="bots-kill-banner" class="kill-switch kill-switch--off".*?</section>\s*<div id="bots-kill-a',
        body,
        re.S,
    )


@pytest.mark.django_db
def test_start_and_stop_without_javascript_post_the_pages_token(user, demo_account, make_bot):
    bot = make_bot()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    def press(label: str):
        body = browser.get(reverse("bots:detail", args=[bot.pk])).content.decode()
        form = re.search(rf'<form id="bot-actions-{bot.pk}".*?</form>', body, re.S).group(0)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        action = re.search(rf'formaction="([^"]+)"[^>]*>{label}</button>', form).group(1)
        return browser.post(action, {"csrfmiddlewaretoken": token})

    assert press("Start").status_code == 302
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING
    assert press("Stop").status_code == 302
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED


@pytest.mark.django_db
def test_start_through_htmx_answers_the_live_part_and_its_buttons_with_a_fresh_token(trader, make_bot):
    bot = make_bot()
    body = trader.post(reverse("bots:start", args=[bot.pk]), headers=HX).content.decode()
    assert body.lstrip().startswith(f'<div id="bot-live-{bot.pk}" class="bot-live bot-live--running"')
    assert f'<form id="bot-actions-{bot.pk}"' in body and 'hx-swap-oob="true"' in body
    assert forms_without_a_token(body) == []
    body = trader.post(reverse("bots:kill_switch"), {"engaged": "on"}, headers=HX).content.decode()
    assert 'class="kill-switch kill-switch--on"' in body and '<div id="bots-kill-actions"' in body
    assert forms_without_a_token(body) == []
