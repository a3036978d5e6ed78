from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "apps.trading"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
