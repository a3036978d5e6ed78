"""A contract's page: its ticks with entry and exit, a timeline, and its ledger movements."""

import json
import re
from decimal import Decimal

from django.urls import reverse

from apps.trading.models import Contract, Status
from apps.trading.services import contract_buy


def buy(account, market, key, *, duration=3, direction="RISE") -> Contract:
    return contract_buy(
        user=account.user,
        account=account,
        market=market,
        direction=direction,
        stake=Decimal("10.00"),
        duration=duration,
        duration_unit="t",
        idempotency_key=key,
    )


def chart_data(body: str) -> dict:
    return json.loads(
        re.search(r'<script id="contract-chart-data" type="application/json">(.*?)</script>', body).group(1)
    )


def test_a_settled_contract_shows_its_ticks_entry_exit_timeline_and_ledger(client, demo_account, feed):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    feed.tick(8)  # history before the purchase
    contract = buy(demo_account, market, "a")
    feed.tick(6)
    contract.refresh_from_db()
    assert contract.status in (Status.WON, Status.LOST, Status.TIE)
    client.force_login(demo_account.user)

    body = client.get(reverse("trading:contract", args=[contract.pk])).content.decode()

    data = chart_data(body)
    seqs = list(market.ticks.filter(seq__gte=contract.purchase_seq - 5, seq__lte=contract.exit_seq + 1).order_by("seq"))
    assert [p[1] for p in data["ticks"]] == [f"{t.price:.5f}" for t in seqs]
    assert data["decimals"] == 5 and data["direction"] == "RISE"
    assert data["entry"] == {"ms": int(contract.entry_time.timestamp() * 1000), "price": f"{contract.entry_spot:.5f}"}
    assert data["exit"] == {"ms": int(contract.exit_time.timestamp() * 1000), "price": f"{contract.exit_spot:.5f}"}
    assert 'id="contract-chart"' in body and "contract-chart.js" in body

    steps = re.findall(r'<li class="(done|todo)" data-step="(\w+)">', body)
    assert steps == [("done", "bought"), ("done", "entry"), ("done", "exit"), ("done", "settled")]
    assert contract.settled_at.strftime("%Y-%m-%d %H:%M:%S") in body

    moves = re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', body, re.S)
    kinds = [kind for kind, _ in moves]
    assert kinds[0] == "STAKE"
    stake_row = moves[0][1]
    assert "10.00 USD" in stake_row and "<td>Your account</td>\n            <td>Escrow</td>" in stake_row
    expected = {
        Status.WON: ["STAKE", "REFUND", "PAYOUT"],
        Status.LOST: ["STAKE", "LOSS"],
        Status.TIE: ["STAKE", "REFUND"],
    }
    assert sorted(kinds) == sorted(expected[contract.status])
    assert '<dd data-testid="contract-source">Manual</dd>' in body


def test_an_open_contract_shows_its_ticks_so_far_and_what_is_still_to_come(client, demo_account, feed):
    market = feed.markets_by_symbol["OTC_EUR_USD"]
    contract = buy(demo_account, market, "open", duration=10)
    feed.tick(2)
    client.force_login(demo_account.user)

    body = client.get(reverse("trading:contract", args=[contract.pk])).content.decode()

    data = chart_data(body)
    entry = market.ticks.get(seq=contract.purchase_seq + 1)
    assert data["entry"]["price"] == f"{entry.price:.5f}" and data["exit"] is None
    assert len(data["ticks"]) == 3  # the purchase's tick, the entry and the one after
    steps = re.findall(r'<li class="(done|todo)" data-step="(\w+)">', body)
    assert steps == [("done", "bought"), ("done", "entry"), ("todo", "exit"), ("todo", "settled")]
    assert [k for k in re.findall(r'<tr data-kind="(\w+)">', body)] == ["STAKE"]


def test_another_traders_contract_is_404(client, demo_account, other_user, feed):
    contract = buy(demo_account, feed.markets_by_symbol["OTC_EUR_USD"], "mine")
    client.force_login(other_user)
    assert client.get(reverse("trading:contract", args=[contract.pk])).status_code == 404
