from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "apps.trading"

    def ready(self) -> None:
        from apps.ledger.checks import register
        from apps.markets.feed import on_ticks
        from apps.realtime.push import user_fragment

        from .checks import contract_breaches
        from .fragments import positions_fragment
        from .hooks import enqueue_settlement

        on_ticks(enqueue_settlement)
        register(contract_breaches)
        user_fragment(positions_fragment)
