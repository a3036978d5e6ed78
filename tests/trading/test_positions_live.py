"""Open positions as a trader watches them: price now, winning or losing, P&L if settled now, progress, link, source."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.bots.engine.config import DecisionConfig
from apps.bots.models import BotTrade, Decision
from apps.bots.services import bot_create, bot_start, bot_stop
from apps.markets.models import Market
from apps.trading.fragments import positions_fragment
from apps.trading.models import Contract
from apps.trading.selectors import position_now
from apps.trading.services import contract_buy

TREND = DecisionConfig({"scalping": {}, "momentum": {}, "breakout": {}}, 2, Decimal("0.50"))


def buy(account, market, key, *, direction="RISE", duration=5, unit="t", stake="10.00") -> Contract:
    return contract_buy(
        user=account.user,
        account=account,
        market=market,
        direction=direction,
        stake=Decimal(stake),
        duration=duration,
        duration_unit=unit,
        idempotency_key=key,
    )


def bought_by_bot(contract: Contract, name: str):
    """Record `contract` as a bot's trade, as the bots' fan-out does."""
    bot = bot_create(
        user=contract.user,
        decision=TREND,
        settings={
            "name": name,
            "account": contract.account,
            "market": contract.market,
            "blocked_regimes": [],
            "duration": 5,
            "duration_unit": "t",
            "base_stake": Decimal("1.00"),
            "max_stake": Decimal("10.00"),
        },
    )
    # Started, as a bot that trades is, and stopped since: no decision cycle buys more here.
    bot_start(user=contract.user, bot_id=bot.pk)
    bot_stop(user=contract.user, bot_id=bot.pk)
    decision = Decision.objects.create(
        market=contract.market,
        config=bot.config,
        seq=contract.purchase_seq,
        tick_time=timezone.now(),
        price=Decimal("1"),
        direction="RISE",
        confidence=Decimal("0.9"),
        reason="test",
        votes=[],
        regime="TREND",
        regime_confidence=Decimal("0.5"),
        regime_reason="test",
        decided_at=timezone.now(),
    )
    BotTrade.objects.create(
        bot=bot, decision=decision, contract=contract, stake=contract.stake, sizing="base", created_at=timezone.now()
    )
    return bot


def row(html: str, contract: Contract) -> str:
    return re.search(rf'<tr data-contract="{contract.pk}".*?</tr>', html, re.S).group(0)


@pytest.mark.parametrize(
    ("direction", "price", "tie_rule", "state", "pnl"),
    [
        ("RISE", "1.10001", "REFUND", "winning", "8.50"),
        ("RISE", "1.09999", "REFUND", "losing", "-10.00"),
        ("FALL", "1.09999", "REFUND", "winning", "8.50"),
        ("FALL", "1.10001", "REFUND", "losing", "-10.00"),
        ("RISE", "1.10000", "REFUND", "tie", "0.00"),
        ("FALL", "1.10000", "LOSE", "tie", "-10.00"),
    ],
)
def test_position_now_follows_the_settlement_rules(direction, price, tie_rule, state, pnl):
    contract = Contract(
        direction=direction,
        entry_spot=Decimal("1.10000"),
        stake=Decimal("10.00"),
        payout=Decimal("18.50"),
        tie_rule=tie_rule,
    )
    assert position_now(contract, Decimal(price)) == (state, Decimal(pnl))
    assert position_now(Contract(entry_spot=None), Decimal(price)) == (None, None)


def test_an_open_position_shows_the_price_now_its_standing_progress_link_and_source(demo_account, feed):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    mine = buy(demo_account, market, "mine", direction="RISE")
    by_bot = buy(demo_account, market, "bot", direction="FALL", duration=1, unit="m")
    bought_by_bot(by_bot, "Night owl")
    feed.tick(2)
    market.refresh_from_db()
    mine.refresh_from_db()
    entry = market.ticks.get(seq=mine.purchase_seq + 1).price
    # The price now, a notch above the entry: the Rise wins, the Fall loses.
    Market.objects.filter(pk=market.pk).update(last_price=entry + Decimal("0.00010"))

    html = positions_fragment(demo_account.user)
    manual = row(html, mine)
    assert "position--winning" in manual
    assert (
        f'<a href="{reverse("trading:contract", args=[mine.pk])}" data-testid="position-link">#{mine.pk}</a>' in manual
    )
    assert '<span data-testid="position-source">Manual</span>' in manual
    assert f'<span class="cell-note" data-now>{entry + Decimal("0.00010"):.5f}</span>' in manual
    assert f">{mine.payout - mine.stake:+.2f}</td>" in manual
    # Two of its five ticks done (the entry tick is the first).
    assert re.search(r'<progress class="to-expiry" max="5" value="1"', manual)
    assert 'data-entry-seq="' in manual and 'data-decimals="5"' in manual

    bots = row(html, by_bot)
    assert "position--losing" in bots
    assert '<span data-testid="position-source">Night owl</span>' in bots
    assert ">-10.00</td>" in bots
    assert re.search(r'<progress class="to-expiry" max="60" value="\d+"', bots)
    # No inline styles: the progress is an element, the colours are classes.
    assert "style=" not in html


def test_recent_results_and_history_tell_manual_and_bot_trades_apart_and_history_filters_by_source(
    client, demo_account, feed
):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    manual = buy(demo_account, market, "manual", duration=1)
    by_bot = buy(demo_account, market, "bot", duration=1)
    bot = bought_by_bot(by_bot, "Night owl")
    feed.tick(4)
    client.force_login(demo_account.user)

    trade = client.get(reverse("trading:trade")).content.decode()
    assert '<span class="cell-note" data-testid="contract-source">Night owl</span>' in trade
    assert '<span class="cell-note" data-testid="contract-source">Manual</span>' in trade

    def listed(**query) -> set[int]:
        body = client.get(reverse("trading:history"), query).content.decode()
        return {int(pk) for pk in re.findall(r'<tr data-contract="(\d+)"', body)}

    assert listed() == {manual.pk, by_bot.pk}
    assert listed(source="manual") == {manual.pk}
    assert listed(source="bots") == {by_bot.pk}
    assert listed(source=f"bot-{bot.pk}") == {by_bot.pk}
    body = client.get(reverse("trading:history"), {"source": "bot-999999"}).content.decode()
    assert "Choose one of the sources." in body
    page = client.get(reverse("trading:history")).content.decode()
    assert f'<option value="bot-{bot.pk}">Night owl</option>' in page
    assert "<th>Source</th>" in page


def test_the_chart_gets_the_markets_decimals_and_the_open_contracts_lines(client, demo_account, feed):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    ticks = buy(demo_account, market, "ticks", duration=3)
    minutes = buy(demo_account, market, "minutes", duration=5, unit="m")
    feed.tick()
    client.force_login(demo_account.user)

    body = client.get(reverse("trading:trade"), {"market": "OTC_EUR_USD"}).content.decode()
    assert re.search(r'<div id="chart" class="chart" data-symbol="OTC_EUR_USD" data-decimals="5"', body)

    answer = client.get(reverse("trading:markers"), {"market": "OTC_EUR_USD"}).json()
    by_id = {c["id"]: c for c in answer["open"]}
    entry = market.ticks.get(seq=ticks.purchase_seq + 1).price
    assert by_id[ticks.pk] == {
        "id": ticks.pk,
        "direction": "RISE",
        "entry": f"{entry:.5f}",
        "entry_seq": ticks.purchase_seq + 1,
        "expires": None,
        "exit_seq": ticks.purchase_seq + 4,
    }
    minutes.refresh_from_db()
    assert by_id[minutes.pk]["expires"] == int(minutes.expires_at.timestamp())
    assert by_id[minutes.pk]["exit_seq"] is None
    assert client.get(reverse("trading:markers"), {"market": "OTC_GOLD"}).json()["open"] == []
