from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.bots.engine.config import DecisionConfig
from apps.exchanges.backtest import spot_backtest
from apps.exchanges.engine import SpotRisk

from .conftest import rising


def run(closes, **risk):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    candles = [(start + timedelta(minutes=i), Decimal(str(round(c, 2)))) for i, c in enumerate(closes)]
    config = DecisionConfig.from_stored({"momentum": {}, "breakout": {}, "scalping": {}}, 1, "0.10")
    return spot_backtest(
        candles=candles,
        config=config,
        risk=SpotRisk(**risk),
        starting_quote=Decimal("10000"),
        amount_step=Decimal("0.00001"),
        min_notional=Decimal("5"),
        fee_rate=Decimal("0.001"),
        slippage_pct=Decimal("0.05"),
    )


def test_a_climb_then_a_fall_opens_and_closes_with_fees_paid():
    closes = rising(900) + [rising(900)[-1] * (1 - 0.001 * i) for i in range(1, 60)]
    report = run(closes)
    assert report.closed, "a position opened on the climb and closed on the fall"
    trade = report.closed[0]
    assert trade.fees > 0
    assert trade.why_open and trade.why_close
    assert report.final_equity == (Decimal("10000") + sum(t.proceeds - t.cost for t in report.closed)).quantize(
        Decimal("0.01")
    )


def test_a_bots_backtest_reads_its_pairs_recorded_candles(user, paper, btc):
    import pytest
    from django.core.exceptions import ValidationError

    from apps.exchanges.models import SpotBot
    from apps.exchanges.services.bots import spot_bot_backtest

    from .conftest import candles_store

    bot = SpotBot.objects.create(user=user, connection=paper, market=btc, name="b",
                                 strategies={"momentum": {}, "breakout": {}, "scalping": {}}, min_agreeing=1,
                                 min_confidence=Decimal("0.10"))  # fmt: skip
    with pytest.raises(ValidationError, match="No 1m candles"):
        spot_bot_backtest(user=user, bot_id=bot.pk, days=1, starting_quote=Decimal("1000"))
    closes = rising(900)
    candles_store(btc, closes + [closes[-1] * (1 - 0.001 * i) for i in range(1, 60)])

    report = spot_bot_backtest(user=user, bot_id=bot.pk, days=1, starting_quote=Decimal("1000"))

    assert report.candles == 959 and report.closed and report.fees > 0
    with pytest.raises(ValidationError, match="between 1 and 7"):
        spot_bot_backtest(user=user, bot_id=bot.pk, days=30, starting_quote=Decimal("1000"))
