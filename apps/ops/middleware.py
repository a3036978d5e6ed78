"""Request ids and user ids for log lines, and the operations endpoints answered first."""

import functools

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.urls import resolve, reverse
from django.utils.deprecation import MiddlewareMixin

from . import context

ENDPOINTS = ("ops:health", "ops:ready", "ops:metrics")


@functools.cache
def _endpoint_paths() -> frozenset[str]:
    return frozenset(reverse(name) for name in ENDPOINTS)


def _endpoint(path: str):
    """The view of /health/, /ready/ or /metrics, else None."""
    return resolve(path).func if path in _endpoint_paths() else None


class OpsEndpointsMiddleware:
    """Answers /health/, /ready/ and /metrics before any other middleware.

    Load balancers and Prometheus call the process directly, by its address:
    their Host header is not one of ALLOWED_HOSTS and they speak plain HTTP.
    Answered here, these three skip host validation (CommonMiddleware) and the
    HTTPS redirect (SecurityMiddleware); /metrics checks its own token or
    allow-list, and the other two disclose nothing but up or down.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        view = _endpoint(request.path_info)
        if view is None:
            return self.get_response(request)
        return async_to_sync(view)(request) if iscoroutinefunction(view) else view(request)

    async def __acall__(self, request):
        view = _endpoint(request.path_info)
        if view is None:
            return await self.get_response(request)
        return await view(request) if iscoroutinefunction(view) else await sync_to_async(view)(request)


class RequestIdMiddleware(MiddlewareMixin):
    """Gives each request an id (the caller's X-Request-ID when well-formed) and returns it in the response.

    The ids stay set until the request finishes (apps.ops.receivers clears
    them on `request_finished`), so Django's own `django.request` line for a
    4xx/5xx, written after the middleware returned, carries them too.
    """

    def process_request(self, request):
        request.request_id = context.request_id_from_header(request.headers.get("X-Request-ID"))
        context.request_id.set(request.request_id)
        context.task_id.set(None)
        context.user_id.set(None)

    def process_response(self, request, response):
        request_id = getattr(request, "request_id", None)
        if request_id:
            response["X-Request-ID"] = request_id
        return response


class UserIdMiddleware(MiddlewareMixin):
    """Puts the signed-in user's id on the request's log lines (after AuthenticationMiddleware)."""

    def process_request(self, request):
        user = getattr(request, "user", None)
        context.user_id.set(user.pk if user is not None and user.is_authenticated else None)
