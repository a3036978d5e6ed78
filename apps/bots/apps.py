from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"

    def ready(self) -> None:
        from apps.markets.feed import on_ticks
        from apps.realtime.push import user_fragment
        from apps.trading.signals import contracts_settled

        from .fragments import bots_fragment
        from .hooks import apply_results, enqueue_decisions

        on_ticks(enqueue_decisions)
        contracts_settled.connect(apply_results, dispatch_uid="bots.apply_results")
        user_fragment(bots_fragment)
