"""Reads for the exchange pages and the cycle: balances, equity, positions with unrealised P&L, the equity curve."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from apps.ledger.models import LedgerAccount

from .models import ExchangeConnection, PositionStatus, SpotBot, SpotBotStatus, SpotMarket, SpotOrder, SpotPosition

PLACES = Decimal("0.00000001")


def connections_of(*, user) -> list[ExchangeConnection]:
    return list(ExchangeConnection.objects.filter(user=user, removed_at=None).order_by("-paper", "created_at"))


def connection_of(*, user, connection_id: int) -> ExchangeConnection:
    """The trader's own connection (another trader's id raises DoesNotExist: a 404)."""
    return ExchangeConnection.objects.get(pk=connection_id, user=user, removed_at=None)


def _prices(exchange: str, quote: str) -> dict[str, Decimal]:
    return {
        base: price
        for base, price in SpotMarket.objects.filter(
            exchange=exchange, quote=quote, last_price__isnull=False
        ).values_list("base", "last_price")
    }


@dataclass(frozen=True)
class Balance:
    asset: str
    amount: Decimal
    price: Decimal | None  # in the connection's quote; None when no pair prices it
    value: Decimal | None


def balances_of(*, connection: ExchangeConnection) -> list[Balance]:
    prices = _prices(connection.exchange, connection.quote)
    rows = []
    for asset, amount in LedgerAccount.objects.filter(code__startswith=f"exchange:{connection.pk}:").values_list(
        "currency", "balance"
    ):
        if amount:
            price = _price_in_quote(connection, asset, prices)
            rows.append(Balance(asset, amount, price, (amount * price).quantize(PLACES) if price is not None else None))
    return sorted(rows, key=lambda b: (b.asset != connection.quote, b.asset))


def _price_in_quote(connection: ExchangeConnection, asset: str, prices: dict[str, Decimal]) -> Decimal | None:
    """One unit of `asset` in the connection's quote (`prices`: its exchange's last prices in that quote)."""
    return Decimal("1") if asset == connection.quote else prices.get(asset)


def equity_of(*, connection: ExchangeConnection) -> Decimal:
    """The connection's worth in its quote: the quote held plus every priced asset at its last price."""
    return equities(connections=[connection])[connection.pk]


def equities(*, connections) -> dict[int, Decimal]:
    """`equity_of` for many connections, in two queries."""
    by_id = {c.pk: c for c in connections}
    prices = {key: _prices(*key) for key in {(c.exchange, c.quote) for c in by_id.values()}}
    worth = dict.fromkeys(by_id, Decimal("0"))
    accounts = LedgerAccount.objects.filter(
        owner_id__in={c.user_id for c in by_id.values()}, code__startswith="exchange:"
    ).values_list("code", "currency", "balance")
    for code, asset, amount in accounts:
        connection = by_id.get(int(code.split(":")[1]))
        if connection is None or not amount:
            continue
        price = _price_in_quote(connection, asset, prices[(connection.exchange, connection.quote)])
        if price is not None:
            worth[connection.pk] += (amount * price).quantize(PLACES)
    return worth


@dataclass(frozen=True)
class OpenPosition:
    position: SpotPosition
    price: Decimal | None
    value: Decimal | None
    unrealised: Decimal | None
    unrealised_pct: Decimal | None


def open_positions(*, connection: ExchangeConnection) -> list[OpenPosition]:
    rows = []
    for position in SpotPosition.objects.filter(connection=connection, status=PositionStatus.OPEN).select_related(
        "market", "bot"
    ):
        price = position.market.last_price
        if price is None or not position.amount:
            rows.append(OpenPosition(position, price, None, None, None))
            continue
        value = (position.amount * price).quantize(PLACES)
        gain = value - position.cost
        pct = (gain / position.cost * 100).quantize(Decimal("0.01")) if position.cost else None
        rows.append(OpenPosition(position, price, value, gain, pct))
    return rows


def closed_positions(*, connection: ExchangeConnection, limit: int = 50) -> list[SpotPosition]:
    return list(
        SpotPosition.objects.filter(connection=connection, status=PositionStatus.CLOSED)
        .select_related("market", "bot")
        .order_by("-closed_at")[:limit]
    )


def orders_of(*, connection: ExchangeConnection, bot: SpotBot | None = None, limit: int = 50) -> list[SpotOrder]:
    orders = SpotOrder.objects.filter(connection=connection).select_related("market", "bot")
    if bot is not None:
        orders = orders.filter(bot=bot)
    return list(orders[:limit])


def fees_paid(*, connection: ExchangeConnection) -> Decimal:
    """Fees over the connection's life, valued in its quote at each fill's price."""
    total = SpotPosition.objects.filter(connection=connection).aggregate(s=Sum("fees"))["s"]
    return (total or Decimal("0")).quantize(Decimal("0.01"))


def equity_curve(*, connection: ExchangeConnection, now) -> list[tuple[str, Decimal]]:
    """The connection's equity after each closed trade (open positions at cost), then now (open positions at market).

    Worked back from today's equity: before a trade closed, equity was lower by its realised P&L.
    """
    equity = equity_of(connection=connection)
    at_cost = equity - sum((p.unrealised for p in open_positions(connection=connection) if p.unrealised), Decimal(0))
    closed = list(
        SpotPosition.objects.filter(connection=connection, status=PositionStatus.CLOSED)
        .order_by("-closed_at")
        .values_list("closed_at", "proceeds", "cost")[:200]
    )
    points = [(now.isoformat(), equity.quantize(Decimal("0.01")))]
    running = at_cost
    for closed_at, proceeds, cost in closed:
        points.append((closed_at.isoformat(), running.quantize(Decimal("0.01"))))
        running -= proceeds - cost
    # Where it started: before the first of those trades closed.
    points.append((connection.created_at.isoformat(), running.quantize(Decimal("0.01"))))
    return list(reversed(points))


def spot_bots_of(*, user) -> list[SpotBot]:
    return list(SpotBot.objects.filter(user=user).select_related("market", "connection").order_by("-created_at"))


def spot_bot_of(*, user, bot_id: int) -> SpotBot:
    """The trader's own spot bot (another trader's id raises DoesNotExist: a 404)."""
    return SpotBot.objects.select_related("market", "connection").get(pk=bot_id, user=user)


def bot_positions(*, bot: SpotBot, limit: int = 50) -> tuple[list[OpenPosition], list[SpotPosition]]:
    """A bot's open positions (with unrealised P&L) and its latest closed ones."""
    held = [row for row in open_positions(connection=bot.connection) if row.position.bot_id == bot.pk]
    closed = list(
        SpotPosition.objects.filter(bot=bot, status=PositionStatus.CLOSED)
        .select_related("market", "bot")
        .order_by("-closed_at")[:limit]
    )
    return held, closed


def spot_user_ids(*, market_ids: list[int]) -> set[int]:
    """Traders whose pages show these pairs' prices: open positions on them, or running bots."""
    holders = SpotPosition.objects.filter(market_id__in=market_ids, status=PositionStatus.OPEN)
    running = SpotBot.objects.filter(market_id__in=market_ids, status=SpotBotStatus.RUNNING)
    return set(holders.values_list("connection__user_id", flat=True)) | set(running.values_list("user_id", flat=True))
