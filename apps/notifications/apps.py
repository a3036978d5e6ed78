from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"

    def ready(self) -> None:
        from apps.realtime.push import user_fragment

        from .fragments import bell_fragment

        user_fragment(bell_fragment)
