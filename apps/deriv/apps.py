from django.apps import AppConfig


class DerivConfig(AppConfig):
    name = "apps.deriv"
    verbose_name = "Deriv"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
