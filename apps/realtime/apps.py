from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
