from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
