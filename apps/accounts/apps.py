from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"

    def ready(self) -> None:
        from apps.realtime.push import user_fragment

        from .fragments import balance_fragment

        user_fragment(balance_fragment)
