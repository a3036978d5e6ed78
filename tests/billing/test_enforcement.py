"""Every plan limit is enforced by the service that does the thing, with a message and an Upgrade link."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccountType, TradingAccount
from apps.billing.entitlements import PLAN_LIMIT, may_email, plans_in_force
from apps.billing.models import Plan, Source, Status, Subscription
from apps.bots.models import Backtest, Bot, BotStatus
from apps.bots.services import bot_create, bot_start
from apps.ledger.models import Realm
from apps.ledger.services import ledger_account_open
from apps.trading.selectors import account_refusals
from tests.bots.conftest import TREND
from tests.bots.test_backtests import backtest_form
from tests.bots.test_backtests_limits import a_backtest
from tests.bots.test_views import HX, bot_form, field_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def free(free_plan_by_default):
    """Users without a subscription are on Free: 1 running bot, 3 bots, 1 backtest at a time, 7 days."""


def on(user, code) -> Subscription:
    subscription, _ = Subscription.objects.update_or_create(
        user=user, defaults={"plan": Plan.objects.get(code=code), "status": Status.ACTIVE, "source": Source.STRIPE}
    )
    return subscription


@pytest.fixture
def market(markets):
    return markets["VOL_10"]


@pytest.fixture
def make_bot(user, demo_account, market):
    def make(name="Trend bot", account=None):
        settings = {
            "name": name,
            "account": account or demo_account,
            "market": market,
            "blocked_regimes": [],
            "duration": 5,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        }
        return bot_create(user=account.user if account else user, decision=TREND, settings=settings)

    return make


@pytest.fixture
def trader(client, user, demo_account):
    client.force_login(user)
    return client


def upgrade_href(body: str) -> str:
    match = re.search(r'<a class="upgrade-link" href="([^"]+)" data-testid="upgrade-link">([^<]+)</a>', body)
    assert match, "no Upgrade link"
    return f"{match.group(1)} {match.group(2)}"


# --- Bots ------------------------------------------------------------------------------------


def test_creating_a_bot_past_the_plans_total_is_refused_with_the_plan_that_allows_more(user, make_bot):
    for n in range(3):
        make_bot(name=f"Bot {n}")
    with pytest.raises(ValidationError) as refused:
        make_bot(name="Fourth")
    assert refused.value.code == PLAN_LIMIT and refused.value.params == {"plan": "basic"}
    assert refused.value.messages == ["Your Free plan allows 3 bots. Basic allows 10 bots."]
    assert Bot.objects.count() == 3
    on(user, "basic")
    make_bot(name="Fourth")


def test_the_bot_form_shows_the_refusal_with_an_upgrade_link(trader, make_bot, demo_account, market):
    for n in range(3):
        make_bot(name=f"Bot {n}")
    response = trader.post(reverse("bots:new"), bot_form(market, demo_account, name="Fourth"), headers=HX)
    assert response.status_code == 422
    body = response.content.decode()
    assert field_error(body, "__all__").startswith("Your Free plan allows 3 bots. Basic allows 10 bots.")
    assert upgrade_href(body) == "/pricing/?plan=basic#plan-basic Upgrade to Basic"
    assert Bot.objects.count() == 3


def test_starting_a_bot_past_the_running_limit_is_refused_and_the_first_keeps_running(user, make_bot):
    first, second = make_bot(name="First"), make_bot(name="Second")
    bot_start(user=user, bot_id=first.pk)
    with pytest.raises(ValidationError) as refused:
        bot_start(user=user, bot_id=second.pk)
    assert refused.value.code == PLAN_LIMIT
    assert refused.value.messages == [
        "Your Free plan allows 1 bot running at once. Basic allows 3 bots running at once."
    ]
    assert list(Bot.objects.filter(status=BotStatus.RUNNING).values_list("name", flat=True)) == ["First"]
    # Starting a running bot again is no new start.
    bot_start(user=user, bot_id=first.pk)


def test_start_pressed_on_the_list_answers_the_refusal_with_an_upgrade_link(trader, user, make_bot):
    first, second = make_bot(name="First"), make_bot(name="Second")
    bot_start(user=user, bot_id=first.pk)
    response = trader.post(reverse("bots:start", args=[second.pk]), headers=HX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "Your Free plan allows 1 bot running at once." in body
    assert upgrade_href(body) == "/pricing/?plan=basic#plan-basic Upgrade to Basic"
    # Without JavaScript the message comes back as a page message.
    response = trader.post(reverse("bots:start", args=[second.pk]), follow=True)
    assert "Your Free plan allows 1 bot running at once." in response.content.decode()


def test_past_pro_the_upgrade_is_enterprise_which_is_sold_by_contact(trader, user, make_bot):
    on(user, "pro")
    Plan.objects.filter(code="pro").update(max_running_bots=1)
    first, second = make_bot(name="First"), make_bot(name="Second")
    bot_start(user=user, bot_id=first.pk)
    body = trader.post(reverse("bots:start", args=[second.pk]), headers=HX).content.decode()
    assert upgrade_href(body) == "/pricing/?plan=enterprise#plan-enterprise Contact us about Enterprise"


def test_the_limit_follows_the_plan_in_force(user, make_bot):
    on(user, "basic")
    bots = [make_bot(name=f"Bot {n}") for n in range(3)]
    for bot in bots:
        bot_start(user=user, bot_id=bot.pk)
    assert Bot.objects.filter(status=BotStatus.RUNNING).count() == 3


# --- Backtests ---------------------------------------------------------------------------------


@pytest.fixture
def submit(trader, market, django_capture_on_commit_callbacks):
    def post(**overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return trader.post(reverse("bots:backtest_new"), backtest_form(market, **overrides), headers=HX)

    return post


def test_a_generated_series_longer_than_the_plans_days_is_refused_on_its_length(submit, market, user):
    # Fifty minutes a tick: 202 ticks are a little over 7 days of prices, 201 a little under.
    market.tick_interval_ms = 3_000_000
    market.save()
    response = submit(length="202")
    assert response.status_code == 422
    body = response.content.decode()
    assert field_error(body, "length").startswith(
        "Your Free plan allows 7 days of prices in a backtest. Basic allows 30 days of prices in a backtest."
    )
    assert "/pricing/?plan=basic#plan-basic" in upgrade_href(body)
    assert not Backtest.objects.exists()
    assert submit(length="201").status_code == 200  # htmx redirect
    assert Backtest.objects.count() == 1


def test_a_recorded_period_longer_than_the_plans_days_is_refused_on_its_end(user, market):
    from apps.bots.backtests import backtest_create
    from apps.markets.models import Tick

    end = timezone.now()
    start = end - timedelta(days=8)
    Tick.objects.create(market=market, seq=10_000, time=start + timedelta(hours=1), price=Decimal("100"))
    settings = {
        "blocked_regimes": [],
        "duration": 5,
        "duration_unit": "t",
        "base_stake": Decimal("1.00"),
        "max_stake": Decimal("10.00"),
        "starting_balance": Decimal("1000.00"),
    }
    with pytest.raises(ValidationError) as refused:
        backtest_create(
            user=user,
            name="Long",
            market=market,
            source="RECORDED",
            start=start,
            end=end,
            decision=TREND,
            settings=settings,
        )
    assert refused.value.error_dict["end"][0].code == PLAN_LIMIT
    on(user, "basic")
    backtest_create(
        user=user,
        name="Long",
        market=market,
        source="RECORDED",
        start=start,
        end=end,
        decision=TREND,
        settings=settings,
    )


def test_the_lower_of_the_plans_and_the_installations_backtest_cap_refuses(submit, user, market, settings):
    settings.BACKTESTS = settings.BACKTESTS | {"MAX_ACTIVE": 2}
    a_backtest(user, market)
    response = submit()
    assert response.status_code == 422
    body = response.content.decode()
    assert field_error(body, "__all__").startswith(
        "Your Free plan allows 1 backtest at a time. Basic allows 2 backtests at a time."
    )
    assert "plan=basic" in upgrade_href(body)
    # The installation's cap is the lower one: its own message, no Upgrade link.
    settings.BACKTESTS = settings.BACKTESTS | {"MAX_ACTIVE": 1}
    on(user, "pro")
    body = submit().content.decode()
    assert field_error(body, "__all__").startswith("You already have 1 backtest queued or running")
    assert 'data-testid="upgrade-link"' not in body
    assert Backtest.objects.count() == 1


# --- Deriv real accounts -----------------------------------------------------------------------


@pytest.fixture
def real_account(user):
    ledger = ledger_account_open(
        owner=user, code=f"user:{uuid.uuid4().hex}", name="real", realm=Realm.REAL, currency="USD"
    )
    return TradingAccount.objects.create(
        user=user, type=AccountType.DERIV_REAL, label="CR900001", currency="USD", ledger_account=ledger
    )


def test_a_deriv_real_account_is_refused_at_trading_unless_the_plan_includes_it(user, real_account, demo_account):
    refusals = account_refusals(account_ids=[real_account.pk, demo_account.pk])
    assert refusals == {real_account.pk: "Your Free plan does not include trading Deriv real-money accounts. Pro does."}
    on(user, "basic")
    assert real_account.pk in account_refusals(account_ids=[real_account.pk])
    on(user, "pro")
    assert account_refusals(account_ids=[real_account.pk]) == {}


@pytest.fixture
def deriv_market(db):
    from apps.markets.models import Market, Source

    return Market.objects.create(
        symbol="R_10", name="Volatility 10", source=Source.DERIV, base_price=Decimal("100"), is_active=True
    )


def test_a_bot_on_a_deriv_real_account_is_refused_on_its_account_until_the_plan_trades_it(
    user, real_account, deriv_market
):
    settings = {
        "name": "Real",
        "account": real_account,
        "market": deriv_market,
        "blocked_regimes": [],
        "duration": 5,
        "duration_unit": "t",
        "base_stake": Decimal("1.00"),
        "max_stake": Decimal("10.00"),
    }
    with pytest.raises(ValidationError) as refused:
        bot_create(user=user, decision=TREND, settings=settings)
    error = refused.value.error_dict["account"][0]
    assert (error.code, error.params) == (PLAN_LIMIT, {"plan": "pro"})
    on(user, "pro")
    assert bot_create(user=user, decision=TREND, settings=settings).account == real_account


def test_a_bot_on_a_deriv_real_account_is_refused_at_start(user, real_account, deriv_market):
    market = deriv_market
    bot = Bot.objects.create(
        user=user,
        name="Real",
        account=real_account,
        market=market,
        config=bot_config(),
        duration=5,
        duration_unit="t",
        base_stake=Decimal("1.00"),
        max_stake=Decimal("10.00"),
    )
    with pytest.raises(ValidationError) as refused:
        bot_start(user=user, bot_id=bot.pk)
    assert refused.value.code == PLAN_LIMIT and refused.value.params == {"plan": "pro"}


def bot_config():
    from apps.bots.services import strategy_config_for

    return strategy_config_for(decision=TREND)


def test_the_deriv_page_says_real_accounts_trade_on_pro(trader, user):
    body = trader.get(reverse("deriv:accounts")).content.decode()
    assert "they trade on Pro" in body
    assert "/pricing/?plan=pro#plan-pro" in upgrade_href(body)
    on(user, "pro")
    assert "they trade on Pro" not in trader.get(reverse("deriv:accounts")).content.decode()


# --- Email alerts and bulk answers -------------------------------------------------------------


def test_email_alerts_follow_the_plan(user):
    assert may_email(user) is False
    on(user, "basic")
    assert may_email(user) is True


def test_plans_in_force_answers_for_many_users_at_once(user, other_user):
    on(user, "pro")
    plans = plans_in_force([user.pk, other_user.pk])
    assert (plans[user.pk].code, plans[other_user.pk].code) == ("pro", "free")


def test_the_bot_form_says_it_on_the_account_with_an_upgrade_link(trader, real_account, deriv_market):
    response = trader.post(reverse("bots:new"), bot_form(deriv_market, real_account, name="Real"), headers=HX)
    assert response.status_code == 422
    body = response.content.decode()
    assert field_error(body, "account").startswith(
        "Your Free plan does not include trading Deriv real-money accounts. Pro does."
    )
    assert upgrade_href(body) == "/pricing/?plan=pro#plan-pro Upgrade to Pro"
    assert not Bot.objects.exists()
