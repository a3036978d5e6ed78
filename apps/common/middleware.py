"""Response headers Django does not set itself."""

from django.conf import settings


class PermissionsPolicyMiddleware:
    """Send `Permissions-Policy` on every response, built once from `settings.PERMISSIONS_POLICY`.

    Each feature maps to the origins that may use it; an empty list turns the
    feature off for the page and every frame in it. Nexus uses none of them.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(origins)})" for feature, origins in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request):
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
