from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "apps.revenue"
    verbose_name = "Revenue: commission, partners and referrals"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
