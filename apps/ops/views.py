"""Operations endpoints: liveness, readiness and Prometheus metrics.

All three are answered by OpsEndpointsMiddleware before host validation and
the HTTPS redirect (load balancers and Prometheus call the process directly).
"""

import asyncio
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound, JsonResponse
from django.views.decorators.http import require_safe
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.asyncio import Redis as RedisClient

from . import checks
from .collectors import DOMAIN_REGISTRY
from .selectors import feed_sources, worker_clusters


@require_safe
def health(request: HttpRequest) -> HttpResponse:
    """The process is alive and serving: no database, no Redis."""
    response = HttpResponse("ok\n", content_type="text/plain")
    response["Cache-Control"] = "no-store"
    return response


class ReadyView(HealthCheckView):
    """Ready to serve traders: 200 with every check named, or 503 naming the failing ones.

    Database and Redis (when REDIS_URL is set), each feed's heartbeat, each
    worker cluster's freshest heartbeat (default and backtests) and the task
    queue's depth.
    """

    http_method_names = ["get", "head"]

    def get_checks(self):
        yield Database()
        if settings.REDIS_URL:
            yield Redis(client_factory=lambda: RedisClient.from_url(settings.REDIS_URL))
        for source in feed_sources():
            yield checks.FeedHeartbeat(source=source)
        for cluster in worker_clusters():
            yield checks.WorkerHeartbeat(cluster=cluster)
        yield checks.TaskQueue()

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            self.results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        return self.render_to_response_json(503 if any(result.error for result in self.results) else 200)

    def render_to_response_json(self, status):
        results = {checks.check_name(r.check): str(r.error.message) if r.error else "ok" for r in self.results}
        failing = [name for name, result in results.items() if result != "ok"]
        return JsonResponse(
            {"status": "failing" if failing else "ok", "failing": failing, "checks": results}, status=status
        )


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(allowed, strict=False) for allowed in settings.METRICS_ALLOWED_IPS)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics of the web process plus the domain's, for a bearer token or an allowed address.

    Without METRICS_TOKEN and METRICS_ALLOWED_IPS the endpoint does not exist (404).
    The address is the connection's own (REMOTE_ADDR): Prometheus scrapes the
    process directly, never through the proxy whose address every visitor shares.
    """
    token = settings.METRICS_TOKEN
    if not token and not settings.METRICS_ALLOWED_IPS:
        return HttpResponseNotFound()
    presented = _bearer_token(request)
    by_token = bool(token) and hmac.compare_digest(presented.encode(), token.encode())
    if not by_token and not _address_allowed(request.META.get("REMOTE_ADDR", "")):
        return HttpResponseForbidden()
    body = generate_latest(REGISTRY) + generate_latest(DOMAIN_REGISTRY)
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
