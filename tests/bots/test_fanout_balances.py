"""One bot whose account cannot pay its stake fails alone: the other bots on its configuration still buy."""

from decimal import Decimal

from apps.accounts.services import account_open_demo
from apps.bots.models import Bot, BotSkip, BotTrade
from apps.bots.services import bot_start, markets_decide
from apps.bots.tasks import execute_decision
from apps.ledger.models import AccountKind, LedgerAccount, Realm, TransferKind
from apps.ledger.services import system_account, transfer
from apps.trading.services import contract_buy
from apps.trading.signals import account_refusals_requested

from .conftest import climb, write_ticks


def test_an_account_emptied_while_the_fan_out_runs_refuses_only_its_own_bot(user, other_user, make_bot, market):
    rich = bot_start(user=user, bot_id=make_bot().pk)
    poor_account = account_open_demo(user=other_user)
    poor = bot_start(user=other_user, bot_id=make_bot(owner=other_user, account=poor_account, name="Poor").pk)
    world = system_account(kind=AccountKind.WORLD, realm=Realm.DEMO, currency="USD")
    # 1.50 left: enough for the bot's 1.00 stake when the fan-out starts.
    transfer(
        debit=poor_account.ledger_account,
        credit=world,
        amount=Decimal("9998.50"),
        kind=TransferKind.ADJUSTMENT,
        idempotency_key="down-to-1.50",
    )
    write_ticks(market, climb())
    decision = next(d for d in markets_decide(market_ids=[market.pk]) if d.config_id == rich.config_id)
    assert decision.direction == "RISE"
    spent = []

    def trader_buys_by_hand(sender, account_ids, **kwargs):
        # The trader's own purchase lands while the fan-out validates its orders (asked once per fan-out).
        if not spent:
            spent.append(
                contract_buy(
                    user=other_user,
                    account=poor_account,
                    market=market,
                    direction="FALL",
                    stake=Decimal("1.00"),
                    duration=5,
                    duration_unit="t",
                    idempotency_key="by-hand",
                )
            )
        return {}

    account_refusals_requested.connect(trader_buys_by_hand, dispatch_uid="tests.trader_buys_by_hand")
    try:
        execute_decision(decision.pk)
    finally:
        account_refusals_requested.disconnect(dispatch_uid="tests.trader_buys_by_hand")

    assert len(spent) == 1
    assert list(BotTrade.objects.values_list("bot_id", flat=True)) == [rich.pk]
    rich, poor = Bot.objects.get(pk=rich.pk), Bot.objects.get(pk=poor.pk)
    assert (rich.trades_today, rich.consecutive_errors) == (1, 0)
    assert (poor.trades_today, poor.consecutive_errors) == (0, 1)
    assert not BotSkip.objects.filter(bot=rich).exists()
    skip = BotSkip.objects.get(bot=poor)
    assert skip.reason == "REJECTED" and "does not cover this stake" in skip.last_detail
    assert LedgerAccount.objects.get(pk=poor_account.ledger_account_id).balance == Decimal("0.50")
