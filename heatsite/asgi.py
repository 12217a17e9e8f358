"""ASGI entry point: HTTP through Django, websockets through Channels behind session auth
and an origin check (ALLOWED_HOSTS)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.audit.context import AuditContextWebsocketMiddleware  # noqa: E402
from apps.identity.middleware import FactorRequiredWebsocketMiddleware  # noqa: E402
from heatsite.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                AuditContextWebsocketMiddleware(
                    FactorRequiredWebsocketMiddleware(URLRouter(websocket_urlpatterns))
                )
            )
        ),
    }
)
