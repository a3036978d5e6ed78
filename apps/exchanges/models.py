"""Spot trading on crypto exchanges: connections (keys encrypted), shared candles, spot bots, orders, positions.

Money never lives here: balances are ledger accounts per connection and asset
(realm PAPER for the paper exchange, EXCHANGE for a real one); an order's fills
are ledger transfers against the exchange world account, its fee a transfer to
the exchange fees account (`services.fills_book`).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.bots.engine.strategies import STRATEGIES
from apps.common import crypto
from apps.ledger.models import LedgerAmountField, Realm

PRICE = {"max_digits": 28, "decimal_places": 10}
PERCENT = {"max_digits": 6, "decimal_places": 2}


class Exchange(models.TextChoices):
    BINANCE = "binance", "Binance"


class Timeframe(models.TextChoices):
    ONE_MINUTE = "1m", "1 minute"
    FIVE_MINUTES = "5m", "5 minutes"


TIMEFRAME_SECONDS = {Timeframe.ONE_MINUTE: 60, Timeframe.FIVE_MINUTES: 300}


class ConnectionStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    # The exchange did not answer: bots on this connection wait and resume by themselves.
    UNREACHABLE = "UNREACHABLE", "Exchange unreachable"
    # The exchange refused the key (revoked, permissions changed): the trader must connect again.
    REFUSED = "REFUSED", "Key refused"


class ExchangeConnection(models.Model):
    """A trader's account at an exchange: real (an API key) or paper (no key, simulated fills)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_connections")
    exchange = models.CharField(max_length=20, choices=Exchange.choices, default=Exchange.BINANCE)
    paper = models.BooleanField(default=False)
    label = models.CharField(max_length=60)
    api_key_encrypted = models.TextField(blank=True, help_text="Fernet ciphertext; never shown.")
    secret_encrypted = models.TextField(blank=True, help_text="Fernet ciphertext; never shown.")
    passphrase_encrypted = models.TextField(blank=True, help_text="Fernet ciphertext; never shown.")
    key_last4 = models.CharField(max_length=4, blank=True)
    quote = models.CharField(max_length=10, default="USDT")
    status = models.CharField(max_length=12, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE)
    status_reason = models.CharField(max_length=200, blank=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Removed by the trader: its secrets are deleted, its history stays.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "exchange"], condition=Q(paper=True, removed_at=None), name="one_paper_per_exchange"
            ),
            models.CheckConstraint(condition=Q(paper=False) | Q(api_key_encrypted=""), name="paper_has_no_key"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({'paper' if self.paper else self.get_exchange_display()})"

    def __repr__(self) -> str:
        return f"<ExchangeConnection {self.pk} user={self.user_id} {self.exchange} paper={self.paper}>"

    @property
    def realm(self) -> str:
        return Realm.PAPER if self.paper else Realm.EXCHANGE

    @property
    def credentials(self) -> dict[str, str]:
        """The key, secret and passphrase in clear, for the exchange client only."""
        found = {"apiKey": crypto.decrypt(self.api_key_encrypted), "secret": crypto.decrypt(self.secret_encrypted)}
        if self.passphrase_encrypted:
            found["password"] = crypto.decrypt(self.passphrase_encrypted)
        return found


class SpotMarket(models.Model):
    """A pair an exchange lists, with the precision and minimums its orders must respect (from ccxt's markets)."""

    exchange = models.CharField(max_length=20, choices=Exchange.choices)
    symbol = models.CharField(max_length=30)
    base = models.CharField(max_length=10)
    quote = models.CharField(max_length=10)
    amount_step = models.DecimalField(max_digits=28, decimal_places=10)
    price_step = models.DecimalField(max_digits=28, decimal_places=10)
    min_amount = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))
    min_notional = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))
    taker_fee = models.DecimalField(max_digits=8, decimal_places=6, default=Decimal("0.001"))
    active = models.BooleanField(default=True)
    # Market data: the last successful poll of its candles, and the last failure's reason.
    polled_at = models.DateTimeField(null=True, blank=True)
    poll_error = models.CharField(max_length=200, blank=True)
    last_price = models.DecimalField(**PRICE, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exchange", "symbol"], name="one_spot_market_per_symbol")]
        ordering = ["exchange", "symbol"]

    def __str__(self) -> str:
        return f"{self.symbol} on {self.get_exchange_display()}"


class Candle(models.Model):
    """One closed candle of a pair, shared by every bot and page that reads the pair."""

    market = models.ForeignKey(SpotMarket, on_delete=models.CASCADE, related_name="candles")
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices)
    opened_at = models.DateTimeField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(max_digits=32, decimal_places=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "timeframe", "opened_at"], name="one_candle_per_period")
        ]
        ordering = ["market", "timeframe", "opened_at"]

    def __str__(self) -> str:
        return f"{self.market.symbol} {self.timeframe} {self.opened_at:%Y-%m-%d %H:%M} close {self.close}"


def every_strategy() -> dict:
    return {name: {} for name in STRATEGIES}


class SpotBotStatus(models.TextChoices):
    STOPPED = "STOPPED", "Stopped"
    RUNNING = "RUNNING", "Running"
    # Stopped by its own risk rules (errors in a row, drawdown): the reason says which.
    DISABLED = "DISABLED", "Disabled"


class SpotBot(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="spot_bots")
    connection = models.ForeignKey(ExchangeConnection, on_delete=models.CASCADE, related_name="bots")
    market = models.ForeignKey(SpotMarket, on_delete=models.PROTECT, related_name="bots")
    name = models.CharField(max_length=60)
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices, default=Timeframe.ONE_MINUTE)
    strategies = models.JSONField(default=every_strategy, help_text="{name: {param: value}}")
    min_agreeing = models.PositiveSmallIntegerField(default=2)
    min_confidence = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0.70"))
    blocked_regimes = models.JSONField(default=list, blank=True)
    position_pct = models.DecimalField(**PERCENT, default=Decimal("5.00"))
    max_open_positions = models.PositiveSmallIntegerField(default=1)
    stop_loss_pct = models.DecimalField(**PERCENT, default=Decimal("2.00"))
    take_profit_pct = models.DecimalField(**PERCENT, default=Decimal("4.00"))
    pyramiding = models.BooleanField(default=False)
    max_adds = models.PositiveSmallIntegerField(default=2)
    add_spacing_pct = models.DecimalField(**PERCENT, default=Decimal("1.00"))
    max_trades_per_day = models.PositiveSmallIntegerField(default=50)
    max_errors_in_row = models.PositiveSmallIntegerField(default=5)
    max_drawdown_pct = models.DecimalField(**PERCENT, default=Decimal("20.00"))

    status = models.CharField(max_length=10, choices=SpotBotStatus.choices, default=SpotBotStatus.STOPPED)
    status_reason = models.CharField(max_length=200, blank=True)
    errors_in_row = models.PositiveSmallIntegerField(default=0)
    peak_equity = LedgerAmountField(null=True, blank=True)
    # The open time of the last candle this bot decided on: one decision per bot and candle.
    decided_until = models.DateTimeField(null=True, blank=True)
    # Why the latest candle brought no order (waiting for prices, a limit reached...), for the page.
    last_skip = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["market", "timeframe", "status"], name="spot_bot_feed")]

    def __str__(self) -> str:
        return f"{self.name} ({self.market.symbol} {self.timeframe})"


class PositionStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    CLOSED = "CLOSED", "Closed"


class SpotPosition(models.Model):
    """A long position a spot bot holds: bought (and added to), then sold whole."""

    bot = models.ForeignKey(SpotBot, null=True, blank=True, on_delete=models.SET_NULL, related_name="positions")
    connection = models.ForeignKey(ExchangeConnection, on_delete=models.CASCADE, related_name="positions")
    market = models.ForeignKey(SpotMarket, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=6, choices=PositionStatus.choices, default=PositionStatus.OPEN)
    amount = LedgerAmountField(default=Decimal("0"), help_text="Base asset held (after fees).")
    cost = LedgerAmountField(default=Decimal("0"), help_text="Quote spent on it.")
    fees = LedgerAmountField(default=Decimal("0"), help_text="Fees paid, valued in quote at their fill's price.")
    adds = models.PositiveSmallIntegerField(default=0)
    # The average price paid per unit held (fees included), as the stop-loss and take-profit are set from.
    entry_price = models.DecimalField(**PRICE, null=True, blank=True)
    last_entry_price = models.DecimalField(**PRICE, null=True, blank=True)
    stop_price = models.DecimalField(**PRICE, null=True, blank=True)
    take_price = models.DecimalField(**PRICE, null=True, blank=True)
    proceeds = LedgerAmountField(default=Decimal("0"), help_text="Quote received when sold, after fees.")
    exit_price = models.DecimalField(**PRICE, null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)
    explanation = models.JSONField(default=dict, help_text="The decision that opened it.")
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["connection", "status"], name="spot_position_connection")]

    def __str__(self) -> str:
        return f"{self.market.symbol} {self.amount} ({self.status})"

    @property
    def realized_pnl(self) -> Decimal:
        """Quote received (after the sale's fee) less quote spent; a buy's fee is already in the amount held."""
        return self.proceeds - self.cost


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class Purpose(models.TextChoices):
    OPEN = "OPEN", "Open"
    ADD = "ADD", "Add to a winner"
    STOP_LOSS = "STOP_LOSS", "Stop-loss"
    TAKE_PROFIT = "TAKE_PROFIT", "Take-profit"
    SIGNAL = "SIGNAL", "Consensus turned"
    CLOSE = "CLOSE", "Closed by the trader"


class OrderStatus(models.TextChoices):
    # Written before it is sent: a restart finds it and asks the exchange about it by client order id.
    NEW = "NEW", "Being sent"
    # Sent, no answer (timeout, dropped connection): reconciled by client order id before any new order.
    UNKNOWN = "UNKNOWN", "Awaiting the exchange"
    FILLED = "FILLED", "Filled"
    PARTIAL = "PARTIAL", "Partly filled"
    REJECTED = "REJECTED", "Rejected"
    CANCELLED = "CANCELLED", "Cancelled"


OPEN_ORDER_STATUSES = (OrderStatus.NEW, OrderStatus.UNKNOWN)


class SpotOrder(models.Model):
    """A market order: one per (decision, bot, purpose), its client order id derived from them."""

    client_order_id = models.CharField(max_length=36)
    connection = models.ForeignKey(ExchangeConnection, on_delete=models.CASCADE, related_name="orders")
    bot = models.ForeignKey(SpotBot, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    position = models.ForeignKey(SpotPosition, null=True, blank=True, on_delete=models.CASCADE, related_name="orders")
    market = models.ForeignKey(SpotMarket, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=Side.choices)
    purpose = models.CharField(max_length=12, choices=Purpose.choices)
    amount = LedgerAmountField(help_text="Base asset asked for.")
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default=OrderStatus.NEW)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    filled = LedgerAmountField(default=Decimal("0"))
    cost = LedgerAmountField(default=Decimal("0"), help_text="Quote paid or received.")
    fee = LedgerAmountField(default=Decimal("0"))
    fee_currency = models.CharField(max_length=10, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    explanation = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "client_order_id"], name="one_order_per_client_id")
        ]
        indexes = [models.Index(fields=["connection", "status"], name="spot_order_connection")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.market.symbol} ({self.status})"

    @property
    def average_price(self) -> Decimal | None:
        return (self.cost / self.filled) if self.filled else None
