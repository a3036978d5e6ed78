"""One rule for how long a contract may last, used by the trade form and the bot and backtest forms."""

import pytest

from apps.bots.forms import BacktestForm
from apps.trading.forms import TradeForm
from apps.trading.models import duration_error
from tests.trading.support import order_form


@pytest.mark.parametrize(
    ("duration", "unit", "error"),
    [
        (1, "t", None),
        (10, "t", None),
        (0, "t", "Tick contracts last 1 to 10 ticks."),
        (11, "t", "Tick contracts last 1 to 10 ticks."),
        (15, "m", None),
        (7, "m", "Choose 1, 5, 15, 30 or 60 minutes."),
        (5, "h", "Choose ticks or minutes."),
    ],
)
def test_duration_error(duration, unit, error):
    assert duration_error(duration, unit) == error


def test_the_trade_form_refuses_a_duration_on_its_field(markets):
    form = TradeForm(order_form(duration="7", duration_unit="m"))

    assert form.errors == {"duration": ["Choose 1, 5, 15, 30 or 60 minutes."]}


def test_the_backtest_form_refuses_a_duration_on_its_field(markets):
    form = BacktestForm({"duration": "11", "duration_unit": "t"})

    assert form.errors["duration"] == ["Tick contracts last 1 to 10 ticks."]
