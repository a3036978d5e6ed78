"""What a contract reports about itself."""

from decimal import Decimal

import pytest

from apps.trading.models import Contract


@pytest.mark.parametrize(
    ("duration", "unit", "label"),
    [(1, "t", "1 tick"), (5, "t", "5 ticks"), (1, "m", "1 minute"), (15, "m", "15 minutes")],
)
def test_the_duration_reads_naturally(duration, unit, label):
    assert Contract(duration=duration, duration_unit=unit).duration_label == label


@pytest.mark.parametrize(("paid", "profit"), [(None, None), ("0.00", "-10.00"), ("10.00", "0.00"), ("18.00", "8.00")])
def test_the_profit_is_what_was_paid_back_less_the_stake(paid, profit):
    contract = Contract(stake=Decimal("10.00"), amount_paid=Decimal(paid) if paid else None)

    assert contract.profit == (Decimal(profit) if profit else None)


def test_a_tick_contract_exits_duration_ticks_after_its_entry():
    assert Contract(purchase_seq=41, duration=5, duration_unit="t").exit_seq == 47


def test_a_minute_contract_has_no_exit_sequence():
    assert Contract(purchase_seq=41, duration=5, duration_unit="m").exit_seq is None
