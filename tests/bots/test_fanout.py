"""The decision cycle: decide once per configuration, fan out, buy once per (decision, bot)."""

from decimal import Decimal

from apps.bots.models import BotSkip, BotStatus, BotTrade, Decision, RegimeRecord
from apps.bots.services import bot_start, markets_decide
from apps.bots.tasks import evaluate_markets, execute_decision
from apps.trading.models import Contract

from .conftest import climb, write_ticks


def test_a_climb_makes_one_decision_per_configuration_and_every_bot_trades_it(user, make_bot, market):
    bots = [make_bot(name=f"Bot {i}") for i in range(3)]
    for bot in bots:
        bot_start(user=user, bot_id=bot.pk)
    write_ticks(market, climb())

    decisions = markets_decide(market_ids=[market.pk])

    # The trend bots' configuration and the monitor's default one.
    assert len(decisions) == 2
    trend = next(d for d in decisions if d.config_id == bots[0].config_id)
    assert trend.direction == "RISE", trend.reason
    assert {v["strategy"] for v in trend.votes} == {"scalping", "momentum", "breakout"}
    assert RegimeRecord.objects.filter(market=market).count() == 1

    execute_decision(trend.pk)
    trades = BotTrade.objects.filter(decision=trend)
    assert trades.count() == 3
    assert set(Contract.objects.values_list("direction", "stake")) == {("RISE", Decimal("1.00"))}
    for bot in bots:
        bot.refresh_from_db()
        assert (bot.trades_today, bot.open_contracts, bot.open_stake) == (1, 1, Decimal("1.00"))


def test_running_the_fan_out_twice_buys_once(user, make_bot, market):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    write_ticks(market, climb())
    evaluate_markets([market.pk])
    evaluate_markets([market.pk])
    decision = Decision.objects.get(config=bot.config)
    execute_decision(decision.pk)
    assert Contract.objects.count() == 1
    assert BotTrade.objects.get().decision == decision


def test_a_blocked_regime_skips_and_counts(user, make_bot, market):
    bot = make_bot(blocked_regimes=["BULLISH"])
    bot_start(user=user, bot_id=bot.pk)
    write_ticks(market, climb())
    evaluate_markets([market.pk])
    assert Decision.objects.get(config=bot.config).regime == "BULLISH"
    assert Contract.objects.count() == 0
    skip = BotSkip.objects.get(bot=bot)
    assert (skip.reason, skip.count) == ("REGIME", 1)
    bot.refresh_from_db()
    assert "bullish" in bot.last_skip
    assert bot.status == BotStatus.RUNNING
