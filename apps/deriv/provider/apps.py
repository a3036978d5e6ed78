from django.apps import AppConfig


class DerivProviderConfig(AppConfig):
    name = "apps.deriv.provider"
    label = "deriv_provider"
    verbose_name = "Deriv sign-in"

    def ready(self) -> None:
        from . import signals  # noqa: F401
