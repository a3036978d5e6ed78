import math
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from django_q.models import Task
from django_q.tasks import async_task

from apps.accounts.models import AccountType, TradingAccount
from apps.bots.models import BotSkip, Decision, SkipReason
from apps.bots.services import bot_start
from apps.deriv.models import Connection, DerivAccount
from apps.ledger.models import LedgerAccount, Realm
from apps.markets.models import Market
from apps.ops.collectors import DOMAIN_REGISTRY
from tests.bots.conftest import TREND
from tests.trading.support import buy


def value(name, **labels):
    return DOMAIN_REGISTRY.get_sample_value(name, labels)


def test_open_contracts_and_escrow_per_realm_and_currency(demo_account, markets, feed):
    market = markets["OTC_EUR_USD"]
    buy(demo_account, market, stake="10.00")
    buy(demo_account, market, stake="2.50", direction="FALL")
    assert value("nexus_open_contracts", realm="DEMO", currency="USD") == 2
    assert value("nexus_open_stake", realm="DEMO", currency="USD") == 12.5
    assert value("nexus_escrow_balance", realm="DEMO", currency="USD") == 12.5
    assert value("nexus_open_contracts", realm="REAL", currency="USD") is None


def test_tick_age_per_active_market(markets):
    now = timezone.now()
    Market.objects.filter(symbol="OTC_EUR_USD").update(last_tick_at=now - timedelta(seconds=42))
    Market.objects.filter(symbol="VOL_10").update(last_tick_at=None)
    Market.objects.filter(symbol="OTC_GBP_USD").update(is_active=False)
    assert 42 <= value("nexus_tick_age_seconds", market="OTC_EUR_USD", source="OTC") < 45
    assert value("nexus_tick_age_seconds", market="VOL_10", source="OTC") == math.inf
    assert value("nexus_tick_age_seconds", market="OTC_GBP_USD", source="OTC") is None


def test_bots_running_decisions_and_skips_of_today(user, demo_account, markets):
    from apps.bots.services import bot_create

    market = markets["VOL_10"]
    settings = {
        "name": "Trend bot",
        "account": demo_account,
        "market": market,
        "blocked_regimes": [],
        "duration": 5,
        "duration_unit": "t",
        "base_stake": Decimal("1.00"),
        "max_stake": Decimal("10.00"),
    }
    running = bot_create(user=user, decision=TREND, settings=settings)
    bot_create(user=user, decision=TREND, settings=settings | {"name": "Idle bot"})
    bot_start(user=user, bot_id=running.pk)
    assert value("nexus_bots_running", market="VOL_10") == 1

    now = timezone.now()
    common = {"market": market, "config": running.config, "tick_time": now, "price": Decimal("1"), "votes": []}
    common |= {"confidence": Decimal("0.8"), "reason": "", "regime": "BULLISH"}
    common |= {"regime_confidence": Decimal("0.9"), "regime_reason": ""}
    Decision.objects.create(seq=1, direction="RISE", decided_at=now, **common)
    Decision.objects.create(seq=2, direction="RISE", decided_at=now, **common)
    Decision.objects.create(seq=3, direction="NONE", decided_at=now, **common)
    Decision.objects.create(seq=4, direction="FALL", decided_at=now - timedelta(days=2), **common)
    today = timezone.localdate()
    skip = {"bot": running, "last_detail": "", "last_at": now}
    BotSkip.objects.create(day=today, reason=SkipReason.RISK, count=3, **skip)
    BotSkip.objects.create(day=today, reason=SkipReason.REGIME, count=1, **skip)
    BotSkip.objects.create(day=today - timedelta(days=1), reason=SkipReason.REJECTED, count=9, **skip)

    assert value("nexus_decisions_today", market="VOL_10", direction="RISE") == 2
    assert value("nexus_decisions_today", market="VOL_10", direction="NONE") == 1
    assert value("nexus_decisions_today", market="VOL_10", direction="FALL") is None
    assert value("nexus_bot_skips_today", reason="RISK") == 3
    assert value("nexus_bot_skips_today", reason="REGIME") == 1
    assert value("nexus_bot_skips_today", reason="REJECTED") is None


def test_task_queue_depth_and_failed_tasks(db):
    assert value("nexus_task_queue_depth") == 0
    async_task("apps.ops.selectors.task_queue_depth", sync=False)
    async_task("apps.ops.selectors.task_queue_depth", sync=False)
    assert value("nexus_task_queue_depth") == 2
    now = timezone.now()
    Task.objects.create(id="f" * 32, name="failed", func="x.y", started=now, stopped=now, success=False)
    Task.objects.create(id="s" * 32, name="done", func="x.y", started=now, stopped=now, success=True)
    assert value("nexus_tasks_failed") == 1


def test_deriv_accounts_per_connection_state(user):
    for n, connection in enumerate([Connection.CONNECTED, Connection.CONNECTED, Connection.DISCONNECTED]):
        ledger = LedgerAccount.objects.create(
            code=f"test:deriv:{n}", name="Deriv demo", kind="USER", realm=Realm.DERIV_DEMO, currency="USD", owner=user
        )
        account = TradingAccount.objects.create(
            user=user, type=AccountType.DERIV_DEMO, label=f"VRTC{n}", ledger_account=ledger, external_id=f"VRTC{n}"
        )
        DerivAccount.objects.create(trading_account=account, status="active", connection=connection)
    assert value("nexus_deriv_accounts", connection="CONNECTED") == 2
    assert value("nexus_deriv_accounts", connection="DISCONNECTED") == 1


def test_a_failing_read_leaves_the_other_figures_in_the_scrape(db, monkeypatch, caplog):
    from django_q import brokers

    class Down(brokers.Broker):
        def queue_size(self):
            raise ConnectionError("broker down")

    monkeypatch.setattr(brokers, "get_broker", lambda *args, **kwargs: Down())
    names = {family.name for family in DOMAIN_REGISTRY.collect()}
    assert "nexus_task_queue_depth" not in names
    assert {"nexus_open_contracts", "nexus_tick_age_seconds", "nexus_deriv_accounts"} <= names
    assert "metrics: _tasks failed" in caplog.text
