"""The bots pages: list, form, detail, start/stop, kill switch, signals; every bad input leaves nothing changed."""

import html
import json
import re
from dataclasses import MISSING, fields
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.bots.engine.strategies import STRATEGIES
from apps.bots.fragments import bots_fragments
from apps.bots.models import Bot, BotStatus, BotTrade, Decision, KillSwitch, RegimeRecord, StrategyConfig
from apps.bots.services import bot_start, kill_switch_set
from apps.bots.shared import monitor_decision
from apps.bots.tasks import execute_decision
from apps.markets.models import Market, Source
from apps.realtime.push import push_signals
from apps.trading.models import Contract

from .conftest import write_ticks

HX = {"HX-Request": "true"}


def bot_form(market, account, **overrides) -> dict:
    """A valid bot form post: three trend followers that agree on a climb, defaults elsewhere."""
    data = {
        "name": "Trend bot",
        "account": account.pk if account else "",
        "market": market.pk,
        "strategies": ["scalping", "momentum", "breakout"],
        "min_agreeing": "2",
        "min_confidence": "0.50",
        "blocked_regimes": [],
        "duration": "5",
        "duration_unit": "t",
        "base_stake": "1.00",
        "max_stake": "10.00",
        "recovery": "NONE",
        "fibonacci_max_steps": "5",
        "daily_loss_limit": "100.00",
        "max_consecutive_losses": "5",
        "max_trades_per_day": "50",
        "max_open_contracts": "3",
        "max_drawdown_pct": "20",
        "max_consecutive_errors": "5",
    }
    for name, cls in STRATEGIES.items():
        for field in fields(cls):
            if field.default is not MISSING:
                data[f"{name}-{field.name}"] = str(field.default)
    data.update(overrides)
    return data


def monitor_config() -> StrategyConfig:
    """The signals monitor's configuration, as the data migration stored it."""
    return StrategyConfig.objects.get(key=monitor_decision().key)


def field_error(body: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="error-{re.escape(field)}"[^>]*>(.*?)</p>', body, re.S)
    assert match, f"no error slot for {field}"
    return html.unescape(match.group(1).strip())


def decide(market, config, *, direction="RISE", regime="BULLISH") -> Decision:
    """A decision on the market's next tick, made by hand: these tests are about pages, not strategies."""
    tick = write_ticks(market, [float(market.last_price or 100) + 0.01])[-1]
    votes = [
        {"strategy": name, "direction": direction, "confidence": 0.8, "reason": f"{name} sees a {direction} move"}
        for name in sorted(config.strategies)
    ]
    decision = Decision.objects.create(
        market=market,
        config=config,
        seq=tick.seq,
        tick_time=tick.time,
        price=tick.price,
        direction=direction,
        confidence=Decimal("0.8"),
        reason=f"{len(votes)} of {len(votes)} strategies voted {direction}; combined confidence 0.80",
        votes=votes,
        regime=regime,
        regime_confidence=Decimal("0.6"),
        regime_reason=f"over 100 ticks the EMA(20) moved a lot: {regime.lower()}",
        decided_at=timezone.now(),
    )
    RegimeRecord.objects.create(
        market=market, seq=tick.seq, time=tick.time, kind=regime, confidence=Decimal("0.6"), reason="by hand"
    )
    execute_decision(decision.pk)
    return decision


def _audits(action: str):
    return AuditEvent.objects.filter(action=action)


# --- Pages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["bots:list", "bots:new", "bots:detail", "bots:edit", "bots:signals", "bots:backtests", "bots:backtest_new"]
)
def test_every_bots_page_renders(trader, make_bot, name):
    bot = make_bot()
    args = [bot.pk] if name in ("bots:detail", "bots:edit") else []
    response = trader.get(reverse(name, args=args))
    assert response.status_code == 200
    assert 'href="/bots/"' in response.content.decode()  # the main nav links the bots pages


def test_the_bots_pages_need_a_sign_in(client, make_bot):
    bot = make_bot()
    for url in (reverse("bots:list"), reverse("bots:new"), reverse("bots:detail", args=[bot.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("account_login") in response["Location"]


def test_the_list_shows_each_bots_live_status_and_figures(trader, user, demo_account, make_bot):
    running, stopped = make_bot(name="Runner"), make_bot(name="Idle")
    bot_start(user=user, bot_id=running.pk)
    Bot.objects.filter(pk=running.pk).update(today_pnl=Decimal("-3.50"), trades_today=4, consecutive_losses=2)
    body = trader.get(reverse("bots:list")).content.decode()
    assert f'id="bot-live-{running.pk}"' in body and f'id="bot-live-{stopped.pk}"' in body
    assert "Running" in body and "Stopped" in body
    assert "-3.50" in body
    assert reverse("bots:stop", args=[running.pk]) in body
    assert reverse("bots:start", args=[stopped.pk]) in body
    assert "Volatility 10 Index" in body and demo_account.label in body


def test_the_pushed_fragment_is_the_pages_partial_swapped_by_id(user, make_bot):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    parts = bots_fragments(user)
    html = parts[f"bots.{bot.pk}"]
    assert f'id="bot-live-{bot.pk}"' in html
    assert 'hx-swap-oob="true"' in html
    assert "Running" in html
    assert 'id="bots-kill-banner"' in parts["bots.kill"]


# --- Create and edit ----------------------------------------------------------------


def test_a_plain_post_creates_a_stopped_bot_and_redirects_to_it(trader, user, demo_account, market):
    response = trader.post(reverse("bots:new"), bot_form(market, demo_account))
    bot = Bot.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("bots:detail", args=[bot.pk])
    assert (bot.user, bot.market, bot.status) == (user, market, BotStatus.STOPPED)
    assert set(bot.config.strategies) == {"scalping", "momentum", "breakout"}
    assert bot.config.min_confidence == Decimal("0.50")
    assert _audits("bot.create").count() == 1


def test_an_htmx_post_creates_and_sends_the_browser_to_the_bot(trader, demo_account, market):
    response = trader.post(reverse("bots:new"), bot_form(market, demo_account, name="Via htmx"), headers=HX)
    bot = Bot.objects.get()
    assert response["HX-Redirect"] == reverse("bots:detail", args=[bot.pk])


def test_checking_as_the_trader_types_saves_nothing(trader, demo_account, market):
    data = bot_form(market, demo_account, base_stake="0.10", validate="1")
    response = trader.post(reverse("bots:new"), data, headers=HX)
    assert response.status_code == 422
    body = response.content.decode()
    assert 'id="error-base_stake"' in body and 'hx-swap-oob="true"' in body
    assert "at least 0.35" in field_error(body, "base_stake")
    # Every slot comes back, so a fixed field's old message is cleared.
    assert field_error(body, "max_stake") == ""

    ok = trader.post(reverse("bots:new"), bot_form(market, demo_account, validate="1"), headers=HX)
    assert ok.status_code == 200
    assert not Bot.objects.exists()


def test_every_error_shows_at_once_not_one_after_another(trader, demo_account, market):
    data = bot_form(market, demo_account, name="", base_stake="0.10", daily_loss_limit="0", validate="1")
    body = trader.post(reverse("bots:new"), data, headers=HX).content.decode()
    assert "Give the bot a name." in field_error(body, "name")
    assert "at least 0.35" in field_error(body, "base_stake")
    assert "must be more than 0" in field_error(body, "daily_loss_limit")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"base_stake": "0.10"}, "base_stake", "The base stake must be at least 0.35"),
        ({"base_stake": "1.234"}, "base_stake", "at most two decimal places"),
        ({"base_stake": "20.00"}, "base_stake", "cannot be more than the maximum stake"),
        ({"base_stake": "1500.00", "max_stake": "2000.00"}, "base_stake", "above this market's maximum"),
        ({"base_stake": "ten"}, "base_stake", "Enter an amount as a number"),
        ({"daily_loss_limit": "0"}, "daily_loss_limit", "The daily loss limit must be more than 0."),
        ({"daily_loss_limit": "0.50"}, "daily_loss_limit", "must allow at least one base stake"),
        ({"max_drawdown_pct": "150"}, "max_drawdown_pct", "more than 0% and at most 100%"),
        ({"max_drawdown_pct": "0"}, "max_drawdown_pct", "more than 0% and at most 100%"),
        ({"max_consecutive_losses": "0"}, "max_consecutive_losses", "must be at least 1"),
        ({"max_trades_per_day": "0"}, "max_trades_per_day", "must be at least 1"),
        ({"max_open_contracts": "0"}, "max_open_contracts", "must be at least 1"),
        ({"max_consecutive_errors": "0"}, "max_consecutive_errors", "must be at least 1"),
        ({"max_consecutive_losses": "99999"}, "max_consecutive_losses", "can be at most 1000"),
        ({"fibonacci_max_steps": "11"}, "fibonacci_max_steps", "can be at most 10"),
        ({"recovery": "MARTINGALE"}, "recovery", "martingale is not offered"),
        ({"strategies": []}, "strategies", "Choose at least one strategy."),
        ({"min_confidence": "1.5"}, "min_confidence", "The confidence threshold must be between 0 and 1."),
        ({"min_confidence": "-0.1"}, "min_confidence", "The confidence threshold must be between 0 and 1."),
        (
            {"min_agreeing": "4"},
            "min_agreeing",
            "The number of agreeing votes must be between 1 and the number of strategies (3), not 4.",
        ),
        ({"min_agreeing": "0"}, "min_agreeing", "between 1 and the number of strategies"),
        ({"momentum-fast": "500"}, "momentum-fast", "Fast must be between 2 and 100."),
        ({"momentum-fast": "30"}, "momentum-fast", "the fast EMA (30) must be shorter than the slow one (21)"),
        ({"breakout-margin": "abc"}, "breakout-margin", "Enter a number."),
        ({"scalping-ticks": ""}, "scalping-ticks", "Enter a value."),
        ({"duration": "11"}, "duration", "Tick contracts last 1 to 10 ticks."),
        ({"duration": "7", "duration_unit": "m"}, "duration", "Choose 1, 5, 15, 30 or 60 minutes."),
        ({"duration_unit": "h"}, "duration_unit", "Choose ticks or minutes."),
        ({"blocked_regimes": ["BULLISH", "BEARISH", "SIDEWAYS"]}, "blocked_regimes", "never let the bot trade"),
        ({"blocked_regimes": ["CRASH"]}, "blocked_regimes", "Choose regimes among bullish, bearish and sideways."),
        ({"name": ""}, "name", "Give the bot a name."),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_creates_nothing(
    trader, demo_account, market, overrides, field, message
):
    for headers in ({}, HX):
        response = trader.post(reverse("bots:new"), bot_form(market, demo_account, **overrides), headers=headers)
        assert response.status_code == 422
        assert message in field_error(response.content.decode(), field)
    assert not Bot.objects.exists()
    assert not _audits("bot.create").exists()


def test_parameters_of_a_strategy_that_does_not_vote_are_not_checked(trader, demo_account, market):
    data = bot_form(market, demo_account, **{"dual_rsi-fast": "999"})
    assert "dual_rsi" not in data["strategies"]
    assert trader.post(reverse("bots:new"), data).status_code == 302


def test_an_inactive_market_cannot_be_chosen(trader, demo_account, market):
    Market.objects.filter(pk=market.pk).update(is_active=False)
    response = trader.post(reverse("bots:new"), bot_form(market, demo_account))
    assert response.status_code == 422
    assert "That market does not exist or is closed for trading." in field_error(response.content.decode(), "market")
    assert not Bot.objects.exists()


def test_a_market_the_demo_account_cannot_trade_is_refused(trader, demo_account, markets):
    deriv = Market.objects.create(symbol="R_10", name="Deriv Volatility 10", source=Source.DERIV, base_price=100)
    response = trader.post(reverse("bots:new"), bot_form(deriv, demo_account))
    assert response.status_code == 422
    assert "cannot be traded from" in field_error(response.content.decode(), "market")
    assert not Bot.objects.exists()


def test_another_traders_account_cannot_be_chosen(trader, market, other_user):
    from apps.accounts.services import account_open_demo

    theirs = account_open_demo(user=other_user)
    response = trader.post(reverse("bots:new"), bot_form(market, theirs))
    assert response.status_code == 422
    assert "Choose one of your accounts." in field_error(response.content.decode(), "account")
    assert not Bot.objects.exists()


def test_the_edit_form_is_prefilled_with_the_bots_settings(trader, make_bot):
    bot = make_bot(name="Prefilled", base_stake=Decimal("2.50"))
    body = trader.get(reverse("bots:edit", args=[bot.pk])).content.decode()
    assert 'value="Prefilled"' in body
    assert 'value="2.50"' in body
    assert 'value="dual_rsi" id="strategy-dual_rsi">' in body  # not chosen: unchecked
    assert 'value="momentum" id="strategy-momentum" checked>' in body


def test_editing_a_running_bots_limits_takes_effect_on_the_next_decision_and_is_audited(
    trader, user, demo_account, market, make_bot
):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    page = trader.get(reverse("bots:edit", args=[bot.pk])).content.decode()
    assert "Your changes take effect on its next decision" in page

    data = bot_form(market, demo_account, base_stake="2.00", max_open_contracts="1")
    response = trader.post(reverse("bots:edit", args=[bot.pk]), data)
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING
    event = _audits("bot.update").get()
    assert event.data["changed"]["base_stake"] == ["1.00", "2.00"]
    assert event.data["changed"]["max_open_contracts"] == [3, 1]

    bot.refresh_from_db()
    decide(market, bot.config)
    assert BotTrade.objects.get(bot=bot).stake == Decimal("2.00")
    # The second decision finds the new limit of one open contract reached.
    decide(market, bot.config)
    assert Contract.objects.count() == 1
    assert "1 contracts open" in Bot.objects.get(pk=bot.pk).last_skip


def test_a_refused_edit_changes_nothing(trader, demo_account, market, make_bot):
    bot = make_bot()
    response = trader.post(reverse("bots:edit", args=[bot.pk]), bot_form(market, demo_account, base_stake="0.01"))
    assert response.status_code == 422
    bot.refresh_from_db()
    assert bot.base_stake == Decimal("1.00")
    assert not _audits("bot.update").exists()


# --- Start, stop, kill switch -------------------------------------------------------


def test_start_and_stop_through_plain_posts(trader, make_bot):
    bot = make_bot()
    response = trader.post(reverse("bots:start", args=[bot.pk]))
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING

    response = trader.post(reverse("bots:stop", args=[bot.pk]), follow=True)
    bot.refresh_from_db()
    assert (bot.status, bot.stopped_reason) == (BotStatus.STOPPED, "BY_USER")
    assert "Stopped</strong>: stopped by you" in response.content.decode()


def test_start_and_stop_through_htmx_answer_with_the_live_partial(trader, make_bot):
    bot = make_bot()
    body = trader.post(reverse("bots:start", args=[bot.pk]), headers=HX).content.decode()
    assert body.lstrip().startswith(f'<div id="bot-live-{bot.pk}"')
    assert "Running" in body and reverse("bots:stop", args=[bot.pk]) in body
    body = trader.post(reverse("bots:stop", args=[bot.pk]), headers=HX).content.decode()
    assert "Stopped" in body and "You stopped the bot." in body


def test_starting_a_bot_on_an_inactive_market_says_why_and_leaves_it_stopped(trader, make_bot, market):
    bot = make_bot()
    Market.objects.filter(pk=market.pk).update(is_active=False)
    response = trader.post(reverse("bots:start", args=[bot.pk]), headers=HX)
    assert response.status_code == 422
    assert "Volatility 10 Index is closed for trading." in response.content.decode()
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED
    assert not _audits("bot.start").exists()

    response = trader.post(reverse("bots:start", args=[bot.pk]), follow=True)
    assert "is closed for trading" in response.content.decode()


def test_two_start_requests_start_the_bot_once(trader, make_bot):
    bot = make_bot()
    first = trader.post(reverse("bots:start", args=[bot.pk]), headers=HX)
    second = trader.post(reverse("bots:start", args=[bot.pk]), headers=HX)
    assert (first.status_code, second.status_code) == (200, 200)
    bot.refresh_from_db()
    assert bot.status == BotStatus.RUNNING
    assert _audits("bot.start").count() == 1


def test_the_kill_switch_stops_every_bot_and_shows_a_banner_until_released(trader, user, make_bot):
    bots = [make_bot(name=f"Bot {i}") for i in range(2)]
    for bot in bots:
        bot_start(user=user, bot_id=bot.pk)
    response = trader.post(reverse("bots:kill_switch"), {"engaged": "on", "reason": "lunch"}, headers=HX)
    body = response.content.decode()
    assert 'data-testid="user-kill-switch"' in body and "lunch" in body
    assert response["HX-Trigger"] == "botsChanged"
    assert set(Bot.objects.values_list("status", "stopped_reason")) == {(BotStatus.STOPPED, "USER_KILL_SWITCH")}
    assert 'data-testid="user-kill-switch"' in trader.get(reverse("bots:list")).content.decode()
    # Starting is refused while it is on.
    refused = trader.post(reverse("bots:start", args=[bots[0].pk]), headers=HX)
    assert refused.status_code == 422 and "kill switch" in refused.content.decode()

    response = trader.post(reverse("bots:kill_switch"), {"engaged": "off"})
    assert response.status_code == 302
    assert not KillSwitch.objects.get(user=user).engaged
    assert 'data-testid="user-kill-switch"' not in trader.get(reverse("bots:list")).content.decode()
    assert set(Bot.objects.values_list("status", flat=True)) == {BotStatus.STOPPED}


def test_the_global_kill_switch_shows_on_the_bots_pages(trader, make_bot):
    bot = make_bot()
    kill_switch_set(engaged=True, reason="maintenance")
    for url in (reverse("bots:list"), reverse("bots:detail", args=[bot.pk])):
        body = trader.get(url).content.decode()
        assert 'data-testid="global-kill-switch"' in body and "maintenance" in body


@pytest.mark.parametrize("name", ["bots:start", "bots:stop"])
def test_get_on_a_state_changing_bot_url_is_405(trader, make_bot, name):
    bot = make_bot()
    assert trader.get(reverse(name, args=[bot.pk])).status_code == 405


def test_get_on_the_kill_switch_is_405(trader):
    assert trader.get(reverse("bots:kill_switch")).status_code == 405
    assert not KillSwitch.objects.exists()


# --- Another trader's bot ------------------------------------------------------------


def test_another_traders_bot_is_404_on_every_url_and_stays_as_it_was(trader, other_user, market, make_bot):
    from apps.accounts.services import account_open_demo

    theirs = make_bot(owner=other_user, account=account_open_demo(user=other_user), name="Theirs")
    for method, name, data in (
        ("get", "bots:detail", None),
        ("get", "bots:edit", None),
        ("post", "bots:edit", bot_form(market, theirs.account, name="Mine now")),
        ("post", "bots:start", None),
        ("post", "bots:stop", None),
    ):
        url = reverse(name, args=[theirs.pk])
        response = getattr(trader, method)(url, data or {})
        assert response.status_code == 404, (method, name)
        response = getattr(trader, method)(url, data or {}, headers=HX)
        assert response.status_code == 404, (method, name, "htmx")
    theirs.refresh_from_db()
    assert (theirs.name, theirs.status) == ("Theirs", BotStatus.STOPPED)
    assert "Theirs" not in trader.get(reverse("bots:list")).content.decode()
    missing = reverse("bots:detail", args=[theirs.pk + 1000])
    assert trader.get(missing).status_code == 404


# --- Detail and signals ---------------------------------------------------------------


def test_the_detail_page_explains_each_trade(trader, user, market, make_bot):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    decide(market, bot.config)
    trade = BotTrade.objects.select_related("decision", "contract").get(bot=bot)

    response = trader.get(reverse("bots:detail", args=[bot.pk]))
    body = response.content.decode()
    assert 'data-testid="bot-trade"' in body
    for vote in trade.decision.votes:
        assert vote["strategy"] in body
    assert trade.decision.reason in body
    assert "Bullish" in body and trade.decision.regime_reason in body
    assert trade.sizing in body
    assert reverse("trading:contract", args=[trade.contract_id]) in body
    assert "Open" in body

    partial = trader.get(reverse("bots:detail", args=[bot.pk]), headers=HX | {"HX-Target": "bot-activity"})
    text = partial.content.decode()
    assert text.lstrip().startswith('<section id="bot-activity"')
    assert "<html" not in text and trade.sizing in text


def test_the_detail_page_counts_skips_by_reason(trader, user, market, make_bot):
    bot = make_bot(blocked_regimes=["BULLISH"])
    bot_start(user=user, bot_id=bot.pk)
    decide(market, bot.config)
    body = trader.get(reverse("bots:detail", args=[bot.pk])).content.decode()
    assert "Regime blocked" in body
    assert "a regime this bot skips" in body
    assert 'data-testid="no-trades"' in body


def test_the_signals_page_shows_each_active_market_and_follows_them_all(trader, markets, market):
    decide(market, monitor_config())
    body = trader.get(reverse("bots:signals")).content.decode()
    active = Market.objects.filter(is_active=True).order_by("name")
    for m in active:
        assert f'id="signals-{m.symbol}"' in body
    symbols = re.search(r'data-symbols="([^"]*)"', body).group(1).split(",")
    assert symbols == [m.symbol for m in active][:8]
    assert re.search(rf'ws-connect="/ws/live/\?parts=[a-z,]*,signals&amp;market={symbols[0]}"', body)
    assert "bots-signals.js" in body
    # The decided market shows its votes and regime.
    section = body.split(f'id="signals-{market.symbol}"')[1].split("</section>")[0]
    assert "momentum sees a RISE move" in section and "Regime:" in section


def test_signals_are_pushed_as_the_pages_partial(market, monkeypatch):
    sent = []
    monkeypatch.setattr("apps.realtime.push.send_group", lambda group, parts: sent.append((group, parts["signals"])))
    decide(market, monitor_config())
    push_signals([market.pk])
    group, html = sent[-1]
    assert group == f"market.{market.symbol}"
    assert f'id="signals-{market.symbol}"' in html and 'hx-swap-oob="true"' in html


def test_independent_errors_of_the_form_and_the_service_show_in_one_round(trader, demo_account, markets):
    """Bug 5: a name missing, a stake below the market's minimum, more agreeing votes than strategies, a
    market the account cannot trade and every regime blocked, all in one submit."""
    deriv = Market.objects.create(symbol="R_10", name="Deriv Volatility 10", source=Source.DERIV, base_price=100)
    data = bot_form(
        deriv,
        demo_account,
        name="",
        base_stake="0.10",
        min_agreeing="4",
        blocked_regimes=["BULLISH", "BEARISH", "SIDEWAYS"],
        **{"momentum-fast": "30"},
    )
    for extra, headers in (({}, {}), ({}, HX), ({"validate": "1"}, HX)):
        response = trader.post(reverse("bots:new"), data | extra, headers=headers)
        assert response.status_code == 422
        body = response.content.decode()
        assert "Give the bot a name." in field_error(body, "name")
        assert "at least 0.35" in field_error(body, "base_stake")
        assert "between 1 and the number of strategies (3), not 4" in field_error(body, "min_agreeing")
        assert "cannot be traded from" in field_error(body, "market")
        assert "never let the bot trade" in field_error(body, "blocked_regimes")
        assert "must be shorter than the slow one" in field_error(body, "momentum-fast")
    assert not Bot.objects.exists()


def test_more_agreeing_votes_than_strategies_is_said_with_a_parameter_error(trader, demo_account, market):
    data = bot_form(market, demo_account, min_agreeing="5", **{"breakout-margin": "abc"})
    body = trader.post(reverse("bots:new"), data).content.decode()
    assert "Enter a number." in field_error(body, "breakout-margin")
    assert "not 5" in field_error(body, "min_agreeing")


def test_the_detail_page_pages_its_trades_and_charts_the_cumulative_pnl(
    trader, user, market, make_bot, django_capture_on_commit_callbacks
):
    from apps.trading.services import contracts_settle

    bot = make_bot(duration=1, max_open_contracts=1000, max_consecutive_losses=1000, daily_loss_limit=Decimal("500"))
    bot_start(user=user, bot_id=bot.pk)
    # As committed: the after-commit work (pushes) runs and leaves nothing waiting for the next test.
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(27):
            decide(market, bot.config)
        write_ticks(market, [float(market.last_price or 100) + 1, float(market.last_price or 100) + 2])
        contracts_settle()
    trades = list(BotTrade.objects.filter(bot=bot).select_related("contract").order_by("id"))
    assert len(trades) == 27

    body = trader.get(reverse("bots:detail", args=[bot.pk])).content.decode()
    assert body.count('data-testid="bot-trade"') == 25
    assert body.count("<details>") == 25  # each explanation opens on demand
    assert f'href="{reverse("bots:detail", args=[bot.pk])}?page=2"' in body
    assert "lightweight-charts" in body and 'id="bot-pnl-chart"' in body
    points = json.loads(re.search(r'<script id="bot-pnl-data" type="application/json">(.*?)</script>', body).group(1))
    settled = [t for t in trades if t.contract.amount_paid is not None]
    assert settled
    assert Decimal(str(points[-1]["value"])) == sum(t.contract.amount_paid - t.stake for t in settled)
    assert [p["time"] for p in points] == sorted({p["time"] for p in points})

    page2 = trader.get(
        reverse("bots:detail", args=[bot.pk]), {"page": "2"}, headers=HX | {"HX-Target": "bot-activity"}
    ).content.decode()
    assert page2.lstrip().startswith('<section id="bot-activity"')
    assert page2.count('data-testid="bot-trade"') == 2
    # A reload after a push keeps the page the trader is on.
    assert f'hx-get="{reverse("bots:detail", args=[bot.pk])}?page=2"' in page2


def test_a_bot_without_settled_trades_says_the_chart_starts_later(trader, make_bot):
    bot = make_bot()
    body = trader.get(reverse("bots:detail", args=[bot.pk])).content.decode()
    assert 'data-testid="bot-pnl-empty"' in body and 'id="bot-pnl-chart"' not in body


def test_the_signals_grid_shows_arrows_confidence_bars_and_prices_to_the_markets_decimals(trader, markets, market):
    decision = decide(market, monitor_config())
    body = trader.get(reverse("bots:signals")).content.decode()
    row = body.split(f'id="signals-{market.symbol}"')[1].split("</section>")[0]
    assert row.count('data-testid="signal-vote"') == len(STRATEGIES)
    assert row.count("▲") == len(STRATEGIES) + 2  # each vote, the consensus and the bullish regime
    assert '<meter min="0" max="1" value="0.80">' in row
    price = re.search(r'data-testid="signal-price"[^>]*>([^<]*)<', row).group(1)
    assert price == f"{decision.price:.{market.decimals}f}"
    assert 'style="' not in body
    assert "warming up" not in row


def test_a_strategy_and_regime_short_of_history_say_warming_up_not_sideways(trader, markets, market):
    config = monitor_config()
    tick = write_ticks(market, [100.0])[-1]
    votes = [
        {
            "strategy": name,
            "direction": "NONE",
            "confidence": 0.0,
            "reason": f"only 335 prices so far; {name} needs 740",
        }
        for name in sorted(config.strategies)
    ]
    Decision.objects.create(
        market=market,
        config=config,
        seq=tick.seq,
        tick_time=tick.time,
        price=tick.price,
        direction="NONE",
        confidence=Decimal("0"),
        reason="no strategy voted",
        votes=votes,
        regime="SIDEWAYS",
        regime_confidence=Decimal("0"),
        regime_reason="only 335 prices so far; 740 needed to tell a trend",
        decided_at=timezone.now(),
    )
    RegimeRecord.objects.create(
        market=market,
        seq=tick.seq,
        time=tick.time,
        kind="SIDEWAYS",
        confidence=Decimal("0"),
        reason="only 335 prices so far; 740 needed to tell a trend",
    )
    body = trader.get(reverse("bots:signals")).content.decode()
    row = body.split(f'id="signals-{market.symbol}"')[1].split("</section>")[0]
    shown = re.sub(r"<details.*?</details>", "", row, flags=re.S)
    assert shown.count("warming up 335/740") == len(STRATEGIES) + 2  # the votes, the consensus, the regime
    assert "Sideways" not in shown and "(0.00)" not in shown
