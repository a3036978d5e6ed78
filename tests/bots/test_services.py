"""Bots' lifecycle: start, stop, edits, kill switches, results from settlement, stops with their reasons."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.bots.engine.config import DecisionConfig
from apps.bots.models import Bot, BotSkip, BotStatus, BotTrade, KillSwitch
from apps.bots.services import bot_start, bot_stop, bot_update, kill_switch_set
from apps.bots.signals import bots_changed
from apps.bots.tasks import evaluate_markets
from apps.ledger.models import AccountKind, Realm, TransferKind
from apps.ledger.services import system_account, transfer
from apps.markets.models import Market
from apps.notifications.models import Notification
from apps.trading.models import Contract, Status
from apps.trading.services import contracts_settle

from .conftest import TREND, climb, write_ticks


def running(bot: Bot) -> Bot:
    bot = bot_start(user=bot.user, bot_id=bot.pk)
    assert bot.status == BotStatus.RUNNING
    return bot


def trade_once(market, start=100.0) -> None:
    """A climb that makes the trend configuration say RISE, and one decision cycle on it."""
    write_ticks(market, climb(start=start))
    evaluate_markets([market.pk])


def test_starting_twice_runs_once_and_audits_once(make_bot, user):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    bot_start(user=user, bot_id=bot.pk)
    assert AuditEvent.objects.filter(action="bot.start").count() == 1
    bot.refresh_from_db()
    assert bot.starting_equity == Decimal("10000.00") and bot.day is not None


def test_starting_and_stopping_tells_bots_changed_with_the_owner_after_commit(
    make_bot, user, django_capture_on_commit_callbacks
):
    bot = make_bot()
    told = []

    def listen(sender, user_ids, **kwargs):
        told.append((sender, user_ids))

    bots_changed.connect(listen)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            bot_start(user=user, bot_id=bot.pk)
        assert told == []
        for callback in callbacks:
            callback()
        assert told == [(Bot, [user.pk])]
        told.clear()
        with django_capture_on_commit_callbacks(execute=True):
            bot_stop(user=user, bot_id=bot.pk)
        assert told == [(Bot, [user.pk])]
    finally:
        bots_changed.disconnect(listen)


def test_a_bot_on_an_inactive_market_does_not_start(make_bot, user, market):
    bot = make_bot()
    Market.objects.filter(pk=market.pk).update(is_active=False)
    with pytest.raises(ValidationError, match="closed for trading"):
        bot_start(user=user, bot_id=bot.pk)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED


def test_another_users_bot_cannot_be_started_or_stopped(make_bot, other_user):
    bot = make_bot()
    with pytest.raises(Bot.DoesNotExist):
        bot_start(user=other_user, bot_id=bot.pk)
    with pytest.raises(Bot.DoesNotExist):
        bot_stop(user=other_user, bot_id=bot.pk)


def test_a_stopped_bot_says_it_was_stopped_by_its_trader(make_bot, user, market):
    bot = running(make_bot())
    bot = bot_stop(user=user, bot_id=bot.pk)
    assert (bot.status, bot.stop_label) == (BotStatus.STOPPED, "Stopped by you")
    trade_once(market)
    assert Contract.objects.count() == 0


def test_editing_a_running_bots_stake_applies_to_the_next_decision_and_is_audited(make_bot, user, market):
    bot = running(make_bot())
    trade_once(market)
    bot_update(user=user, bot=bot, decision=TREND, settings={"base_stake": Decimal("2.50")})
    trade_once(market, start=200.0)
    assert list(Contract.objects.order_by("id").values_list("stake", flat=True)) == [Decimal("1.00"), Decimal("2.50")]
    event = AuditEvent.objects.get(action="bot.update")
    assert event.data["changed"] == {"base_stake": ["1.00", "2.50"]}
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.RUNNING


def test_a_bad_edit_changes_nothing(make_bot, user):
    bot = running(make_bot())
    with pytest.raises(ValidationError) as error:
        bot_update(user=user, bot=bot, decision=TREND, settings={"base_stake": Decimal("0.10")})
    assert "base_stake" in error.value.message_dict
    assert Bot.objects.get(pk=bot.pk).base_stake == Decimal("1.00")
    assert not AuditEvent.objects.filter(action="bot.update").exists()


def test_a_bots_pnl_counts_the_net_profit_of_wins_after_commission_and_markup(make_bot, market, user):
    from tests.revenue.support import commission_rule, partner, refer

    commission_rule("20.00")
    refer(user, partner(markup="10.00"))
    bot = running(make_bot())
    trade_once(market)
    write_ticks(market, climb(8, start=200.0))
    contracts_settle()
    bot.refresh_from_db()
    contract = Contract.objects.get()
    assert contract.status == Status.WON and contract.commission and contract.markup
    assert bot.today_pnl == contract.payout - contract.commission - contract.markup - Decimal("1.00")
    assert bot.today_pnl == contract.profit


def test_consensus_bounds_are_refused_before_a_bot_exists():
    with pytest.raises(ValueError, match="between 0 and 1"):
        DecisionConfig({"momentum": {}, "breakout": {}}, 2, Decimal("1.5"))
    with pytest.raises(ValueError, match="at least one strategy"):
        DecisionConfig({}, 1, Decimal("0.7"))
    with pytest.raises(ValueError, match="between 1 and the number of strategies"):
        DecisionConfig({"momentum": {}}, 2, Decimal("0.7"))


def test_wins_settle_into_the_bots_state(make_bot, market):
    bot = running(make_bot())
    trade_once(market)
    write_ticks(market, climb(8, start=200.0))
    contracts_settle()
    bot.refresh_from_db()
    assert Contract.objects.get().status == Status.WON
    assert (bot.open_contracts, bot.open_stake, bot.consecutive_losses) == (0, Decimal("0.00"), 0)
    assert bot.today_pnl == Contract.objects.get().payout - Decimal("1.00")
    assert BotTrade.objects.get().result_applied
    # Followed on the bot's page: no notice per contract (stops are notified).
    assert not Notification.objects.exists()


def test_losses_in_a_row_stop_the_bot_with_a_notification(make_bot, market):
    bot = running(make_bot(max_consecutive_losses=2, max_open_contracts=1))
    for round_ in range(2):
        trade_once(market, start=100.0 + 50 * round_)
        write_ticks(market, [500.0] + [10.0] * 7)  # entry high, exit far below: a loss
        contracts_settle()
    bot.refresh_from_db()
    assert bot.consecutive_losses == 2
    assert (bot.status, bot.stopped_reason) == (BotStatus.STOPPED, "CONSECUTIVE_LOSSES")
    notice = Notification.objects.get(kind="BOT_STOPPED")
    assert "too many losses in a row" in notice.title
    trade_once(market, start=300.0)
    assert Contract.objects.count() == 2


def test_refused_purchases_count_as_errors_and_stop_the_bot(make_bot, demo_account, market):
    bot = running(make_bot(max_consecutive_errors=2))
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    transfer(
        debit=demo_account.ledger_account,
        credit=world,
        amount=Decimal("10000.00"),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="empty-it",
    )
    for round_ in range(3):
        trade_once(market, start=100.0 + 50 * round_)
    bot.refresh_from_db()
    assert Contract.objects.count() == 0
    assert (bot.status, bot.stopped_reason) == (BotStatus.STOPPED, "CONSECUTIVE_ERRORS")
    skip = BotSkip.objects.get(bot=bot, reason="REJECTED")
    assert skip.count == 2 and "does not cover this stake" in skip.last_detail


def test_a_users_kill_switch_stops_their_bots_only(make_bot, user, other_user, market):
    from apps.accounts.services import account_open_demo

    mine = running(make_bot())
    theirs = running(make_bot(owner=other_user, account=account_open_demo(user=other_user)))
    assert kill_switch_set(user=user, engaged=True, actor=user, reason="Going offline") == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, mine.stopped_reason) == (BotStatus.STOPPED, "USER_KILL_SWITCH")
    assert theirs.status == BotStatus.RUNNING
    with pytest.raises(ValidationError, match="Your kill switch is on"):
        bot_start(user=user, bot_id=mine.pk)
    kill_switch_set(user=user, engaged=False, actor=user)
    assert bot_start(user=user, bot_id=mine.pk).status == BotStatus.RUNNING


def test_the_global_kill_switch_refuses_trades_within_the_same_cycle(make_bot, user, market):
    """Even a bot still marked running when the switch flips buys nothing on the next decision."""
    bots = [running(make_bot(name=f"Bot {i}")) for i in range(3)]
    KillSwitch.objects.create(user=None, engaged=True)  # flipped after the bots were read as running
    trade_once(market)
    assert Contract.objects.count() == 0
    assert set(Bot.objects.values_list("status", "stopped_reason")) == {(BotStatus.STOPPED, "GLOBAL_KILL_SWITCH")}
    assert Notification.objects.filter(kind="BOT_STOPPED").count() == len(bots)


def test_the_global_kill_switch_stops_every_running_bot_at_once(make_bot, user):
    for i in range(3):
        running(make_bot(name=f"Bot {i}"))
    make_bot(name="Idle")
    assert kill_switch_set(engaged=True, reason="Upstream incident") == 3
    assert not Bot.objects.filter(status=BotStatus.RUNNING).exists()
    assert Bot.objects.filter(stop_detail__contains="Upstream incident").count() == 3
