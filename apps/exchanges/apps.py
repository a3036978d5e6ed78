from django.apps import AppConfig


class ExchangesConfig(AppConfig):
    name = "apps.exchanges"
    verbose_name = "Spot exchanges"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
