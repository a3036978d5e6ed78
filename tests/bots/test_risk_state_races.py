"""A fan-out and a settlement on the same bot at once: neither loses the other's change to its risk state.

Real threads, real transactions (transactional_db), run on PostgreSQL by the
test command. The first of the two is held between reading the bot's state
and writing it back until the second is done, or for a while if the second has
to wait for it (as it must: the bot's row is locked by whoever read it first).
"""

from decimal import Decimal

import pytest

from apps.bots.models import Bot, BotStatus, BotTrade
from apps.bots.services import bot_start, bots, markets_decide
from apps.bots.tasks import evaluate_markets, execute_decision
from apps.ledger.checks import ledger_breaches
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle
from apps.trading.signals import account_refusals_requested
from tests.support.threads import Interleaving

from .conftest import climb, write_ticks

pytestmark = pytest.mark.dbsensitive

STAKE = Decimal("1.00")
# Entry far above the exit: a Rise contract bought before these ticks loses.
A_LOSS = [500.0] + [10.0] * 7


@pytest.fixture
def patient_prices(settings):
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 600.0}


@pytest.mark.parametrize("first", ["fan-out", "settlement"])
def test_a_fan_out_and_a_settlement_at_once_both_count_and_the_limits_hold(
    first, transactional_db, make_bot, user, market, patient_prices, monkeypatch
):
    bot = make_bot(max_consecutive_losses=2, max_trades_per_day=2)
    bot = bot_start(user=user, bot_id=bot.pk)
    start_equity = bot.starting_equity
    write_ticks(market, climb())
    evaluate_markets([market.pk])  # the first contract, which loses:
    write_ticks(market, A_LOSS)
    write_ticks(market, climb(start=200.0))  # and a new decision to buy on
    decision = next(
        d for d in markets_decide(market_ids=[market.pk]) if d.config_id == bot.config_id and d.executed_at is None
    )
    assert decision.direction == "RISE"
    interleaving = Interleaving()
    if first == "fan-out":
        # Between reading the bots' state and writing it: the fan-out validates its orders.
        def held(sender, **kwargs):
            interleaving.pause()
            return {}

        account_refusals_requested.connect(held, dispatch_uid="tests.held_fan_out")
        run_first, run_second = (lambda: execute_decision(decision.pk)), contracts_settle
    else:
        save = bots.risk_states_save

        def held_save(**kwargs):
            interleaving.pause()
            save(**kwargs)

        monkeypatch.setattr(bots, "risk_states_save", held_save)
        run_first, run_second = contracts_settle, (lambda: execute_decision(decision.pk))
    try:
        results, exceptions = interleaving.run(run_first, run_second)
    finally:
        account_refusals_requested.disconnect(dispatch_uid="tests.held_fan_out")

    assert exceptions == []
    assert interleaving.paused
    assert list(Contract.objects.order_by("pk").values_list("status", flat=True)) == [Status.LOST, Status.OPEN]
    bot = Bot.objects.get(pk=bot.pk)
    assert bot.trades_today == 2
    assert (bot.open_contracts, bot.open_stake) == (1, STAKE)
    assert (bot.today_pnl, bot.equity) == (-STAKE, start_equity - STAKE)
    assert bot.consecutive_losses == 1
    assert BotTrade.objects.filter(bot=bot, result_applied=True).count() == 1
    assert ledger_breaches() == []

    # The limits still hold: the trades-per-day limit refuses a third trade, a second loss in a row stops the bot.
    write_ticks(market, A_LOSS)
    contracts_settle()
    write_ticks(market, climb(start=300.0))
    evaluate_markets([market.pk])
    assert Contract.objects.count() == 2
    bot = Bot.objects.get(pk=bot.pk)
    assert (bot.status, bot.consecutive_losses) == (BotStatus.STOPPED, 2)
    assert bot.stopped_reason in ("CONSECUTIVE_LOSSES", "MAX_TRADES_PER_DAY")
