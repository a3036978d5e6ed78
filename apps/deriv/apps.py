from django.apps import AppConfig


class DerivConfig(AppConfig):
    name = "apps.deriv"
    verbose_name = "Deriv"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deploy checks)
        from .gateway import on_unlinked
        from .signals import deriv_unlinked

        # Whichever process unlinks, the connection manager closes the trader's sockets at once.
        deriv_unlinked.connect(on_unlinked, dispatch_uid="deriv.gateway.on_unlinked")
