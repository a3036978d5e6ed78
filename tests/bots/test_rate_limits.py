"""Bot writes and backtests per trader per period: past the limit a 429 with the message, and nothing saved."""

import html

import pytest
from django.urls import reverse

from apps.bots.models import Backtest, Bot, BotStatus

from .test_backtests import backtest_form
from .test_views import HX, bot_form

pytestmark = pytest.mark.django_db


def limited(response, what: str, rate: str) -> None:
    assert response.status_code == 429
    assert f"Too many {what}: at most {rate}. Try again in" in html.unescape(response.content.decode())


def test_creating_editing_and_starting_bots_share_one_limit(trader, market, demo_account, make_bot, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"bot_writes": "3/m"}
    bot = make_bot(name="Existing")
    assert trader.post(reverse("bots:new"), bot_form(market, demo_account, name="One")).status_code == 302
    edit = reverse("bots:edit", args=[bot.pk])
    assert trader.post(edit, bot_form(market, demo_account, name="Renamed")).status_code == 302
    assert trader.post(reverse("bots:start", args=[bot.pk]), headers=HX).status_code == 200
    stop = reverse("bots:stop", args=[bot.pk])
    assert trader.post(stop, headers=HX).status_code == 200  # stopping is never limited

    words = "changes to bots (creating, editing, starting)"
    limited(trader.post(reverse("bots:new"), bot_form(market, demo_account, name="Two")), words, "3 a minute")
    limited(trader.post(edit, bot_form(market, demo_account, name="Again"), headers=HX), words, "3 a minute")
    limited(trader.post(reverse("bots:start", args=[bot.pk]), headers=HX), words, "3 a minute")
    bot.refresh_from_db()
    assert (bot.name, bot.status) == ("Renamed", BotStatus.STOPPED)
    assert sorted(Bot.objects.values_list("name", flat=True)) == ["One", "Renamed"]
    # Checking the form as the trader types saves nothing and is not counted.
    check = trader.post(reverse("bots:new"), bot_form(market, demo_account, validate="1"), headers=HX)
    assert check.status_code == 200
    assert trader.get(reverse("bots:new")).status_code == 200


def test_backtests_over_the_limit_answer_429_and_queue_nothing(
    trader, market, settings, django_capture_on_commit_callbacks
):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"backtests": "2/h"}
    url = reverse("bots:backtest_new")
    with django_capture_on_commit_callbacks(execute=True):
        assert trader.post(url, backtest_form(market)).status_code == 302
        assert "HX-Redirect" in trader.post(url, backtest_form(market), headers=HX)
        page = trader.post(url, backtest_form(market))
        toast = trader.post(url, backtest_form(market), headers=HX)
    limited(page, "backtests", "2 an hour")
    limited(toast, "backtests", "2 an hour")
    assert toast["HX-Retarget"] == "#toasts"
    assert Backtest.objects.count() == 2
    assert trader.post(url, backtest_form(market, validate="1"), headers=HX).status_code == 200
