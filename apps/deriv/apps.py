from django.apps import AppConfig


class DerivConfig(AppConfig):
    name = "apps.deriv"
    verbose_name = "Deriv"
