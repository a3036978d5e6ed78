"""Settings > Responsible trading: the trader's own daily limits and self-exclusion, enforced on every trade."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.bots.models import BotStatus
from apps.bots.services import bot_start
from apps.bots.tasks import evaluate_markets
from apps.notifications.models import Notification
from apps.trading.limits import SELF_EXCLUDED, TRADER_LIMIT, refusal_code
from apps.trading.models import Contract
from apps.trading.services.settlement import contracts_settle
from apps.users.models import ResponsibleTrading
from apps.users.selectors import limit_maximum
from apps.users.services import self_exclusion_set, trading_limits_set
from tests.bots.conftest import TREND, climb, write_ticks
from tests.trading.support import buy, make_market
from tests.trading.support import write_ticks as trading_ticks


@pytest.fixture
def trader(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def market(db):
    return make_market(payout_percent="80.00")


def limits(trader, loss="", stake=""):
    return trader.post(reverse("settings:responsible"), {"daily_loss_limit": loss, "daily_stake_limit": stake})


# --- Limits: bad input ------------------------------------------------------------------------


def test_limits_are_saved_and_audited(trader, user, market):
    assert limits(trader, "50", "200.5").status_code == 302
    row = ResponsibleTrading.objects.get(user=user)
    assert (row.daily_loss_limit, row.daily_stake_limit) == (Decimal("50.00"), Decimal("200.50"))
    event = AuditEvent.objects.get(action="user.trading_limits_set")
    assert event.data["daily_loss_limit"] == [None, "50.00"]


@pytest.mark.parametrize(
    "loss, stake, field, message",
    [
        ("-1", "", "daily_loss_limit", "0 or more"),
        ("", "-0.01", "daily_stake_limit", "0 or more"),
        ("1.234", "", "daily_loss_limit", "two decimal places"),
        ("", "9.999", "daily_stake_limit", "two decimal places"),
        ("abc", "", "daily_loss_limit", "as a number"),
        ("NaN", "", "daily_loss_limit", "as a number"),
        ("", "1e3", "daily_stake_limit", "as a number"),
    ],
)
def test_a_bad_limit_is_refused_next_to_its_field(trader, user, market, loss, stake, field, message):
    response = limits(trader, loss, stake)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="error-{field}"' in page
    assert message in page
    assert not ResponsibleTrading.objects.filter(user=user).exists()


def test_a_limit_above_the_maximum_is_refused(trader, user, market):
    maximum = limit_maximum()
    assert maximum == market.max_stake * 1000
    response = limits(trader, str(maximum + Decimal("0.01")), str(maximum))
    assert response.status_code == 200
    assert 'id="error-daily_loss_limit"' in response.content.decode()
    assert 'id="error-daily_stake_limit"' not in response.content.decode()
    assert not ResponsibleTrading.objects.filter(user=user).exists()


def test_the_service_refuses_what_the_form_would(user, market):
    with pytest.raises(ValidationError) as caught:
        trading_limits_set(user=user, daily_loss_limit=Decimal("-5"), daily_stake_limit=Decimal("1.001"))
    assert set(caught.value.message_dict) == {"daily_loss_limit", "daily_stake_limit"}


# --- Limits: enforced --------------------------------------------------------------------------


def test_a_trade_beyond_the_daily_stake_limit_is_refused_with_the_reason(user, demo_account, market):
    trading_limits_set(user=user, daily_loss_limit=None, daily_stake_limit=Decimal("15.00"))
    buy(demo_account, market, stake="10.00")
    with pytest.raises(ValidationError) as caught:
        buy(demo_account, market, stake="6.00")
    assert refusal_code(caught.value) == TRADER_LIMIT
    assert "daily stake limit" in " ".join(caught.value.messages)
    assert "5.00 left today" in " ".join(caught.value.messages)
    buy(demo_account, market, stake="5.00")
    assert Contract.objects.count() == 2


def test_the_stake_limit_counts_every_account_of_the_trader(user, demo_account, market):
    from apps.accounts.services import account_open_demo

    second = account_open_demo(user=user, label="Demo 2")
    trading_limits_set(user=user, daily_loss_limit=None, daily_stake_limit=Decimal("12.00"))
    buy(demo_account, market, stake="10.00")
    with pytest.raises(ValidationError):
        buy(second, market, stake="5.00")


def test_a_trade_that_could_pass_the_loss_limit_is_refused_and_settled_losses_count(user, demo_account, market):
    trading_limits_set(user=user, daily_loss_limit=Decimal("15.00"), daily_stake_limit=None)
    buy(demo_account, market, direction="RISE", stake="10.00")
    with pytest.raises(ValidationError) as caught:
        buy(demo_account, market, stake="10.00")
    assert "daily loss limit" in " ".join(caught.value.messages)
    trading_ticks(market, "100.00", "99.00")  # entry, then a lower exit: the Rise loses
    contracts_settle(market_ids=[market.pk])
    assert Contract.objects.get().status == "LOST"
    buy(demo_account, market, stake="5.00")
    trading_ticks(market, "99.00", "98.00")
    contracts_settle(market_ids=[market.pk])
    with pytest.raises(ValidationError) as caught:
        buy(demo_account, market, stake="1.00")
    assert "You reached your own daily loss limit" in " ".join(caught.value.messages)


def test_yesterdays_stakes_do_not_count(user, demo_account, market):
    trading_limits_set(user=user, daily_loss_limit=None, daily_stake_limit=Decimal("10.00"))
    contract = buy(demo_account, market, stake="10.00")
    Contract.objects.filter(pk=contract.pk).update(purchased_at=timezone.now() - timedelta(days=1, hours=1))
    buy(demo_account, market, stake="10.00")


# --- Self-exclusion ------------------------------------------------------------------------------


def pause(trader, period="7d", confirm="on"):
    return trader.post(reverse("settings:responsible"), {"period": period, "confirm": confirm, "pause": ""})


def test_a_self_exclusion_refuses_trades_and_shows_a_banner_on_every_page(trader, user, demo_account, market):
    assert pause(trader).status_code == 302
    row = ResponsibleTrading.objects.get(user=user)
    assert row.excluded_until - timezone.now() > timedelta(days=6, hours=23)
    assert AuditEvent.objects.filter(action="user.self_exclusion_set").exists()
    with pytest.raises(ValidationError) as caught:
        buy(demo_account, market, stake="1.00")
    assert refusal_code(caught.value) == SELF_EXCLUDED
    assert "You paused your trading until" in " ".join(caught.value.messages)
    for url in (reverse("trading:trade"), reverse("settings:profile"), reverse("bots:list")):
        assert b'data-testid="self-exclusion-banner"' in trader.get(url).content, url


def test_a_trade_posted_during_a_self_exclusion_shows_the_reason_on_the_form(trader, user, demo_account, market):
    self_exclusion_set(user=user, period="1d")
    response = trader.post(
        reverse("trading:buy"),
        {
            "market": market.symbol,
            "direction": "RISE",
            "stake": "1.00",
            "duration": "1",
            "duration_unit": "t",
            "idempotency_key": "k1",
        },
    )
    assert response.status_code == 422
    assert "You paused your trading until" in response.content.decode()
    assert not Contract.objects.exists()


def test_the_pause_needs_a_confirmation_and_a_known_period(trader, user, market):
    response = pause(trader, confirm="")
    assert response.status_code == 200 and b'id="error-confirm"' in response.content
    response = pause(trader, period="0d")
    assert response.status_code == 200 and b'id="error-period"' in response.content
    response = pause(trader, period="400d")
    assert response.status_code == 200
    assert not ResponsibleTrading.objects.filter(user=user, excluded_until__isnull=False).exists()


def test_a_self_exclusion_cannot_be_shortened_or_lifted_only_extended(trader, user, market):
    self_exclusion_set(user=user, period="30d")
    until = ResponsibleTrading.objects.get(user=user).excluded_until
    response = pause(trader, period="7d")
    assert response.status_code == 200
    assert "cannot be shortened or lifted" in response.content.decode()
    with pytest.raises(ValidationError):
        self_exclusion_set(user=user, period="1d")
    with pytest.raises(ValidationError):
        self_exclusion_set(user=user, period="")  # no "lift" exists
    assert ResponsibleTrading.objects.get(user=user).excluded_until == until
    # Lowering limits cannot lift it either.
    trading_limits_set(user=user, daily_loss_limit=None, daily_stake_limit=None)
    assert ResponsibleTrading.objects.get(user=user).excluded_until == until
    assert pause(trader, period="90d").status_code == 302
    assert ResponsibleTrading.objects.get(user=user).excluded_until > until


def test_an_ended_self_exclusion_lets_the_trader_trade_again(user, demo_account, market):
    self_exclusion_set(user=user, period="1d", now=timezone.now() - timedelta(days=2))
    buy(demo_account, market, stake="1.00")


# --- Bots ------------------------------------------------------------------------------------------


@pytest.fixture
def bot_market(markets):
    return markets["VOL_10"]


@pytest.fixture
def make_bot(user, demo_account, bot_market):
    from apps.bots.services import bot_create

    def make(**settings):
        defaults = {
            "name": "Trend bot",
            "account": demo_account,
            "market": bot_market,
            "blocked_regimes": [],
            "duration": 5,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        }
        return bot_create(user=user, decision=TREND, settings=defaults | settings)

    return make


def test_a_bot_start_during_a_self_exclusion_is_refused_with_the_reason(user, make_bot):
    bot = make_bot()
    self_exclusion_set(user=user, period="1d")
    with pytest.raises(ValidationError) as caught:
        bot_start(user=user, bot_id=bot.pk)
    assert "You paused your trading until" in " ".join(caught.value.messages)
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED


def test_a_bot_start_after_the_stake_limit_is_used_is_refused(user, make_bot, demo_account, market):
    trading_limits_set(user=user, daily_loss_limit=None, daily_stake_limit=Decimal("1.00"))
    buy(demo_account, market, stake="1.00")
    with pytest.raises(ValidationError) as caught:
        bot_start(user=user, bot_id=make_bot().pk)
    assert "daily stake limit" in " ".join(caught.value.messages)


def test_running_bots_stop_with_a_notice_when_the_exclusion_starts(user, make_bot):
    bots = [make_bot(name=f"Bot {i}") for i in range(2)]
    for bot in bots:
        bot_start(user=user, bot_id=bot.pk)
    self_exclusion_set(user=user, period="7d")
    for bot in bots:
        bot.refresh_from_db()
        assert (bot.status, bot.stopped_reason) == (BotStatus.STOPPED, "SELF_EXCLUDED")
        assert "You paused your trading until" in bot.stop_detail
    assert Notification.objects.filter(user=user, title__contains="You paused your trading").count() == 2


def test_a_bot_whose_trader_hits_their_own_limit_stops_with_a_notice(user, make_bot, bot_market):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    trading_limits_set(user=user, daily_loss_limit=None, daily_stake_limit=Decimal("0.50"))
    write_ticks(bot_market, climb())
    evaluate_markets([bot_market.pk])
    bot.refresh_from_db()
    assert (bot.status, bot.stopped_reason) == (BotStatus.STOPPED, "TRADER_LIMIT")
    assert "daily stake limit" in bot.stop_detail
    assert not Contract.objects.exists()
    assert Notification.objects.filter(user=user, title__contains="daily limit").exists()


def test_a_bot_of_an_excluded_trader_buys_nothing_in_the_fan_out(user, make_bot, bot_market):
    bot = make_bot()
    bot_start(user=user, bot_id=bot.pk)
    # Set behind the service's back: the fan-out itself refuses, and stops the bot.
    ResponsibleTrading.objects.create(user=user, excluded_until=timezone.now() + timedelta(days=1))
    write_ticks(bot_market, climb())
    evaluate_markets([bot_market.pk])
    bot.refresh_from_db()
    assert (bot.status, bot.stopped_reason) == (BotStatus.STOPPED, "SELF_EXCLUDED")
    assert not Contract.objects.exists()
