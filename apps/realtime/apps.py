from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"

    def ready(self) -> None:
        from apps.markets.feed import on_ticks

        from .push import push_ticks

        on_ticks(push_ticks)
