from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    verbose_name = "Billing: plans and subscriptions"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
