"""Every form that takes money refuses NaN, infinities, huge numbers and digits no one types as such.

Each bad input is posted to the real view: the answer is 422 with the
message next to the field, and nothing is written.
"""

import html
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.bots.models import Backtest, Bot
from apps.common.forms import MoneyField, PlainIntegerField
from apps.ledger.models import Transfer
from apps.trading.models import Contract
from tests.bots.test_backtests import backtest_form
from tests.bots.test_views import bot_form
from tests.trading.support import order_form

NOT_A_NUMBER = [
    "NaN",
    "nan",
    "sNaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e1",
    "1_0",
    "١٠",
    "１０",
    "0x10",
]
TOO_LARGE = ["12345678901234567890123456", "99999999999", "1" + "0" * 400]
BAD = NOT_A_NUMBER + TOO_LARGE


def expected(value: str, invalid: str, too_large: str) -> str:
    return too_large if value in TOO_LARGE else invalid


def error_next_to(body: str, slot: str) -> str:
    match = re.search(rf'<p class="error" id="{re.escape(slot)}"[^>]*>(.*?)</p>', body, re.S)
    assert match, f"no error next to {slot}"
    return html.unescape(match.group(1).strip())


@pytest.fixture
def trader(client, user, demo_account):
    client.force_login(user)
    return client


@pytest.fixture
def nothing_written(db):
    def counts():
        return (
            Contract.objects.count(),
            Bot.objects.count(),
            Backtest.objects.count(),
            Transfer.objects.count(),
            AuditEvent.objects.count(),
        )

    before = counts()
    yield
    assert counts() == before


@pytest.mark.parametrize("value", BAD)
def test_the_trade_form_refuses_the_stake(trader, feed, nothing_written, value):
    response = trader.post(reverse("trading:buy"), order_form(stake=value))

    assert response.status_code == 422
    message = expected(value, "Enter the stake as a number, like 10.00.", "That stake is too large.")
    assert error_next_to(response.content.decode(), "stake-error") == message


@pytest.mark.parametrize("value", BAD)
def test_the_payout_preview_answers_without_a_payout(trader, feed, value):
    response = trader.get(reverse("trading:preview"), {"market": "OTC_EUR_USD", "stake": value})

    assert response.status_code == 200
    assert "Enter a stake" in response.content.decode()


@pytest.mark.parametrize("field", ["base_stake", "max_stake", "daily_loss_limit"])
@pytest.mark.parametrize("value", BAD)
def test_the_bot_form_refuses_the_amount(trader, markets, demo_account, nothing_written, field, value):
    response = trader.post(reverse("bots:new"), bot_form(markets["VOL_10"], demo_account, **{field: value}))

    assert response.status_code == 422
    message = expected(value, "Enter an amount as a number, like 10.00.", "That amount is too large.")
    assert error_next_to(response.content.decode(), f"error-{field}") == message


@pytest.mark.parametrize("value", ["NaN", "Infinity", "١٠", "１０", "1_0", "12345678901234567890123456"])
def test_editing_a_bot_refuses_the_amount(trader, markets, demo_account, value):
    trader.post(reverse("bots:new"), bot_form(markets["VOL_10"], demo_account))
    bot = Bot.objects.get()

    response = trader.post(
        reverse("bots:edit", args=[bot.pk]), bot_form(markets["VOL_10"], demo_account, base_stake=value)
    )

    assert response.status_code == 422
    message = expected(value, "Enter an amount as a number, like 10.00.", "That amount is too large.")
    assert error_next_to(response.content.decode(), "error-base_stake") == message
    bot.refresh_from_db()
    assert bot.base_stake == Decimal("1.00")


@pytest.mark.parametrize("field", ["starting_balance", "base_stake"])
@pytest.mark.parametrize("value", BAD)
def test_the_backtest_form_refuses_the_amount(trader, markets, nothing_written, field, value):
    response = trader.post(reverse("bots:backtest_new"), backtest_form(markets["VOL_10"], **{field: value}))

    assert response.status_code == 422
    message = expected(value, "Enter an amount as a number, like 10.00.", "That amount is too large.")
    assert error_next_to(response.content.decode(), f"error-{field}") == message


@pytest.mark.parametrize("value", ["NaN", "Infinity", "١٠", "1_0", "1e1"])
@pytest.mark.parametrize("field", ["min_confidence", "max_drawdown_pct", "duration", "max_trades_per_day"])
def test_the_other_number_fields_of_the_bot_form_refuse_them_too(
    trader, markets, demo_account, nothing_written, field, value
):
    response = trader.post(reverse("bots:new"), bot_form(markets["VOL_10"], demo_account, **{field: value}))

    assert response.status_code == 422
    assert error_next_to(response.content.decode(), f"error-{field}")


@pytest.mark.parametrize("value", ["10", "10.0", "10.00", " 10.5 ", "+10", ".5", "0010.00"])
def test_plain_amounts_are_read_to_the_cent(value):
    assert MoneyField().clean(value) == Decimal(value.strip()).quantize(Decimal("0.01"))


@pytest.mark.parametrize("value", ["١٠", "１０", "1_0", "1e1", "NaN"])
def test_whole_numbers_are_plain_ascii_too(value):
    with pytest.raises(Exception) as caught:
        PlainIntegerField().clean(value)
    assert caught.value.messages == ["Enter a whole number."]


def test_an_amount_with_too_many_places_gets_that_one_message_not_also_the_minimum():
    from django.core.exceptions import ValidationError

    from apps.common.forms import MoneyField

    field = MoneyField(min_value=Decimal("0.01"), error_messages={"min_value": "Too small."})
    with pytest.raises(ValidationError) as caught:
        field.clean("0.001")
    assert caught.value.messages == ["Enter an amount with at most two decimal places."]
    with pytest.raises(ValidationError) as caught:
        field.clean("0.00")
    assert caught.value.messages == ["Too small."]
