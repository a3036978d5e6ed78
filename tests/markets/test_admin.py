"""The Django admin: every page loads, market edits are audited, money records are read-only."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from apps.accounts.models import TradingAccount
from apps.audit.models import AuditEvent
from apps.ledger.models import Entry, LedgerAccount, Transfer
from apps.markets.models import Candle, Market, Tick, VolatilityMode
from apps.trading.models import Contract
from apps.trading.services import contract_buy


@pytest.fixture
def contract(demo_account, feed, markets):
    bought = contract_buy(
        user=demo_account.user,
        account=demo_account,
        market=markets["OTC_EUR_USD"],
        direction="RISE",
        stake=Decimal("10.00"),
        duration=3,
        duration_unit="t",
        idempotency_key="admin-test",
    )
    feed.tick(4)
    bought.refresh_from_db()
    return bought


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(form) -> dict:
    """What the browser would post back for an unbound admin form, before any edit."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[form.add_prefix(name)] = "on"
        elif value is not None:
            data[form.add_prefix(name)] = str(value)
    return data


def changelist_data(response) -> dict:
    formset = response.context["cl"].formset
    data = {f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()}
    for form in formset.forms:
        data.update(form_data(form))
    return {**data, "_save": "Save"}


def market_events(market, action: str):
    return AuditEvent.objects.filter(action=action, target_type="markets.market", target_id=str(market.pk))


def test_every_registered_changelist_loads_for_a_superuser(admin_client, contract):
    assert Tick.objects.exists() and Candle.objects.exists() and Transfer.objects.exists()

    for model in admin.site._registry:
        response = admin_client.get(url(model, "changelist"))
        assert response.status_code == 200, model


def test_the_change_pages_of_markets_accounts_and_contracts_load(admin_client, contract):
    for obj in (contract.market, contract.account, contract, Tick.objects.first(), Candle.objects.first()):
        assert admin_client.get(url(type(obj), "change", obj.pk)).status_code == 200, type(obj)


def test_editing_a_market_writes_an_audit_event_with_the_changed_fields(admin_client, admin_user, markets):
    market = markets["OTC_GOLD"]
    form = admin_client.get(url(Market, "change", market.pk)).context["adminform"].form
    data = {**form_data(form), "payout_percent": "85.50", "volatility_mode": VolatilityMode.HIGH}

    response = admin_client.post(url(Market, "change", market.pk), data)

    assert response.status_code == 302
    market.refresh_from_db()
    assert (market.payout_percent, market.volatility_mode) == (Decimal("85.50"), VolatilityMode.HIGH)
    event = market_events(market, "market.change").get()
    assert event.actor == admin_user
    assert event.data == {"changed": {"payout_percent": ["80.00", "85.50"], "volatility_mode": ["MEDIUM", "HIGH"]}}
    assert event.ip == "127.0.0.1"


def test_editing_markets_in_the_change_list_audits_each_changed_row(admin_client, admin_user, markets):
    response = admin_client.get(url(Market, "changelist"))
    data = changelist_data(response)
    rows = {form.instance.symbol: form.prefix for form in response.context["cl"].formset.forms}
    gold, vol = rows["OTC_GOLD"], rows["VOL_10"]
    del data[f"{gold}-is_active"]
    data[f"{vol}-trend_bias"] = "-0.50"

    response = admin_client.post(url(Market, "changelist"), data)

    assert response.status_code == 302
    assert market_events(markets["OTC_GOLD"], "market.change").get().data == {"changed": {"is_active": [True, False]}}
    assert market_events(markets["VOL_10"], "market.change").get().data == {
        "changed": {"trend_bias": ["0.00", "-0.50"]}
    }
    assert AuditEvent.objects.filter(action="market.change").count() == 2
    assert not Market.objects.get(symbol="OTC_GOLD").is_active


def test_adding_a_market_writes_a_market_add_event(admin_client, admin_user, db):
    form = admin_client.get(url(Market, "add")).context["adminform"].form
    data = {**form_data(form), "symbol": "OTC_SILVER", "name": "Silver OTC", "base_price": "24.50", "seed": "9"}

    response = admin_client.post(url(Market, "add"), data)

    assert response.status_code == 302
    market = Market.objects.get(symbol="OTC_SILVER")
    event = market_events(market, "market.add").get()
    assert event.actor == admin_user
    assert event.data["changed"]["symbol"] == [None, "OTC_SILVER"]
    assert event.data["changed"]["base_price"][1] == "24.50"


def test_a_market_saved_without_changes_writes_no_event(admin_client, markets):
    market = markets["OTC_GOLD"]
    form = admin_client.get(url(Market, "change", market.pk)).context["adminform"].form

    assert admin_client.post(url(Market, "change", market.pk), form_data(form)).status_code == 302

    assert not market_events(market, "market.change").exists()


def test_an_invalid_market_edit_is_refused_and_not_audited(admin_client, markets):
    market = markets["OTC_GOLD"]
    form = admin_client.get(url(Market, "change", market.pk)).context["adminform"].form
    data = {**form_data(form), "min_stake": "50.00", "max_stake": "10.00"}

    response = admin_client.post(url(Market, "change", market.pk), data)

    assert response.status_code == 200
    assert "The maximum stake must be at least the minimum stake." in response.content.decode()
    assert not market_events(market, "market.change").exists()


def test_the_feed_owned_fields_cannot_be_edited(admin_client, markets):
    market = markets["OTC_GOLD"]
    form = admin_client.get(url(Market, "change", market.pk)).context["adminform"].form

    assert not {"last_price", "last_tick_at", "last_seq"} & set(form.fields)


def test_markets_cannot_be_deleted_only_deactivated(admin_client, markets):
    market = markets["OTC_GOLD"]

    assert admin_client.post(url(Market, "delete", market.pk), {"post": "yes"}).status_code == 403
    assert Market.objects.filter(pk=market.pk).exists()


@pytest.mark.parametrize("model", [Contract, Transfer, Entry, LedgerAccount, Tick, Candle, AuditEvent])
def test_money_and_history_cannot_be_added_changed_or_deleted(admin_client, contract, model):
    obj = model.objects.order_by("pk").first()
    before = model.objects.count()

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "add"), {}).status_code == 403
    assert admin_client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    admin_client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )
    assert model.objects.count() == before
    actions = admin_client.get(url(model, "changelist")).context["action_form"]
    assert actions is None or "delete_selected" not in dict(actions.fields["action"].choices)


def test_a_contract_page_shows_its_fields_read_only(admin_client, contract):
    response = admin_client.get(url(Contract, "change", contract.pk))

    assert response.status_code == 200
    assert not response.context["adminform"].form.fields
    assert contract.get_status_display() in response.content.decode()


def test_contracts_are_found_by_user_email_and_by_id(admin_client, contract, other_user):
    by_email = admin_client.get(url(Contract, "changelist"), {"q": contract.user.email})
    by_id = admin_client.get(url(Contract, "changelist"), {"q": str(contract.pk)})
    nobody = admin_client.get(url(Contract, "changelist"), {"q": other_user.email})

    assert list(by_email.context["cl"].result_list) == [contract]
    assert list(by_id.context["cl"].result_list) == [contract]
    assert list(nobody.context["cl"].result_list) == []


def test_trading_accounts_show_their_ledger_balance_and_are_found_by_email(admin_client, contract):
    account = contract.account
    account.ledger_account.refresh_from_db()

    response = admin_client.get(url(type(account), "changelist"), {"q": account.user.email})

    assert list(response.context["cl"].result_list) == [account]
    assert str(account.ledger_account.balance) in response.content.decode()


def test_a_trading_accounts_ledger_account_cannot_be_changed(admin_client, contract):
    account = contract.account
    form = admin_client.get(url(type(account), "change", account.pk)).context["adminform"].form

    assert set(form.fields) == {"label"}
    response = admin_client.post(
        url(type(account), "change", account.pk),
        {"label": "Practice", "ledger_account": LedgerAccount.objects.last().pk},
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.label == "Practice"
    assert account.ledger_account_id == contract.account.ledger_account_id
    assert admin_client.get(url(type(account), "add")).status_code == 403


def test_trading_accounts_cannot_be_deleted(admin_client, contract):
    account = contract.account

    assert admin_client.post(url(TradingAccount, "delete", account.pk), {"post": "yes"}).status_code == 403
    admin_client.post(
        url(TradingAccount, "changelist"),
        {"action": "delete_selected", "_selected_action": [account.pk], "post": "yes"},
    )
    assert TradingAccount.objects.filter(pk=account.pk).exists()
