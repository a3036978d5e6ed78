"""ASGI entry point: HTTP through Django, WebSockets through the realtime app."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexus.settings")
# A web process runs each request on a thread of its own, and a persistent
# database connection would stay open for every thread that ever ran, until
# PostgreSQL refuses more clients (Django advises against them under ASGI).
# Its connections come from a pool instead, at most DB_POOL_MAX_SIZE. Only
# for this process's settings, and no child's: a process that forks (a task
# worker) would share the pool's connections with its children.
os.environ["DB_POOL"] = "on"
try:
    django_asgi_app = get_asgi_application()
finally:
    del os.environ["DB_POOL"]

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
