"""Two traders: the victim owns one of everything (Nexus and Deriv accounts, a contract, a bot, a backtest,
a notification); the attacker is signed in with a demo account of their own."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client

from apps.accounts.models import AccountType, TradingAccount
from apps.bots.backtests import BACKTEST_SETTINGS, backtest_create
from apps.bots.models import Backtest, Bot
from apps.bots.services import bot_create
from apps.exchanges.models import ExchangeConnection, SpotBot
from apps.notifications.models import Kind, Notification
from apps.notifications.services import notification_create
from apps.trading.models import Contract
from tests.bots.conftest import TREND
from tests.deriv.conftest import deriv_on_fixture, fresh_rest_budgets  # noqa: F401
from tests.deriv.support import link_user
from tests.exchanges.support import keyed_connection, spot_bot_make, spot_market
from tests.fakes.deriv.fixtures import fake_deriv_fixture  # noqa: F401
from tests.trading.support import buy

# Tables no page may change on another trader's behalf: every app's own, allauth's and the task queue's.
WATCHED_APPS = {"account", "socialaccount", "mfa", "django_q"}


@dataclass
class Owned:
    user: object
    account: TradingAccount
    deriv_account: TradingAccount
    contract: Contract
    bot: Bot
    backtest: Backtest
    notification: Notification
    exchange_connection: ExchangeConnection
    spot_bot: SpotBot


def database_state() -> dict:
    """Every row of every watched table, to compare before and after a request."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.app_config.name.startswith("apps.") or model._meta.app_label in WATCHED_APPS
    }


def own_everything(user, account, markets, fake_deriv, *, name: str) -> Owned:
    """One of everything a trader can own, for `user`; each thing a trader names is called `name`."""
    link_user(user, fake_deriv)
    deriv_account = TradingAccount.objects.get(user=user, type=AccountType.DERIV_DEMO)
    TradingAccount.objects.filter(user=user).update(label=name)
    account.refresh_from_db()
    deriv_account.refresh_from_db()
    settings = {"name": name, "account": account, "market": markets["VOL_10"], "base_stake": Decimal("1.00")}
    bot = bot_create(user=user, decision=TREND, settings=settings)
    backtest_settings = {key: getattr(bot, key) for key in BACKTEST_SETTINGS if hasattr(bot, key)}
    backtest = backtest_create(
        user=user,
        name=name,
        decision=TREND,
        market=markets["VOL_10"],
        source="GENERATED",
        seed=7,
        length=200,
        settings=backtest_settings | {"starting_balance": Decimal("1000.00")},
    )
    exchange_connection = keyed_connection(user, label=name)
    return Owned(
        user=user,
        account=account,
        deriv_account=deriv_account,
        contract=buy(account, markets["OTC_EUR_USD"], duration=5),
        bot=bot,
        backtest=backtest,
        notification=notification_create(user=user, kind=Kind.BOT_STOPPED, title=name, body=name),
        exchange_connection=exchange_connection,
        spot_bot=spot_bot_make(user, exchange_connection, spot_market(), name=name),
    )


@pytest.fixture
def victim(user, demo_account, feed, markets, deriv_on) -> Owned:
    return own_everything(user, demo_account, markets, deriv_on, name="Victim-owned")


@pytest.fixture
def attacker(other_user) -> Client:
    from apps.accounts.services import account_open_demo

    account_open_demo(user=other_user)
    client = Client()
    client.force_login(other_user)
    return client
