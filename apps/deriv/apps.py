from django.apps import AppConfig


class DerivConfig(AppConfig):
    name = "apps.deriv"
    verbose_name = "Deriv"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (deploy checks, receivers)
