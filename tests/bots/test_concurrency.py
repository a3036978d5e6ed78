"""The fan-out under concurrency: two workers on one decision buy once per (decision, bot).

Real threads, real transactions (transactional_db); the test command also runs
these on PostgreSQL.
"""

from collections import Counter

import pytest

from apps.accounts.services import account_open_demo
from apps.audit.models import AuditEvent
from apps.bots.models import Bot, BotStatus, BotTrade, Decision
from apps.bots.services import bot_start, markets_decide
from apps.bots.tasks import evaluate_markets, execute_decision
from apps.ledger.checks import ledger_breaches
from apps.trading.models import Contract
from apps.users.models import User
from tests.support.threads import run_threads

from .conftest import climb, write_ticks

pytestmark = pytest.mark.dbsensitive


@pytest.fixture
def patient_prices(settings):
    settings.NEXUS = {**settings.NEXUS, "STALE_TICK_SECONDS": 600.0}


@pytest.fixture
def ten_running_bots(transactional_db, make_bot, market, patient_prices):
    bots = []
    for i in range(10):
        owner = User.objects.create_user(f"bot-owner{i}@example.com", "pw")
        bot = make_bot(owner=owner, account=account_open_demo(user=owner), name=f"Bot {i}")
        bots.append(bot_start(user=owner, bot_id=bot.pk))
    write_ticks(market, climb())
    return bots


def test_the_same_decision_fanned_out_twice_at_once_buys_once_per_bot(ten_running_bots, market):
    decision = next(d for d in markets_decide(market_ids=[market.pk]) if d.config_id == ten_running_bots[0].config_id)
    assert decision.direction == "RISE"

    results, exceptions = run_threads(2, lambda i: execute_decision(decision.pk))

    assert exceptions == []
    assert Contract.objects.count() == 10
    assert Counter(BotTrade.objects.values_list("bot_id", flat=True)) == {bot.pk: 1 for bot in ten_running_bots}
    assert ledger_breaches() == []


def test_two_decision_cycles_on_the_same_tick_at_once_decide_and_buy_once(ten_running_bots, market):
    results, exceptions = run_threads(2, lambda i: evaluate_markets([market.pk]))

    assert exceptions == []
    config = ten_running_bots[0].config
    assert Decision.objects.filter(config=config).count() == 1
    assert Contract.objects.count() == 10
    assert BotTrade.objects.count() == 10
    assert ledger_breaches() == []


def test_two_start_requests_at_once_start_one_run(transactional_db, make_bot, user, patient_prices):
    bot = make_bot()

    results, exceptions = run_threads(2, lambda i: bot_start(user=user, bot_id=bot.pk).status)

    assert exceptions == []
    assert results == [BotStatus.RUNNING, BotStatus.RUNNING]
    assert AuditEvent.objects.filter(action="bot.start").count() == 1
    assert Bot.objects.get(pk=bot.pk).started_at is not None
