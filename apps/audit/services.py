import ipaddress
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from ipware import get_client_ip

from .models import AuditEvent


def _is_trusted_proxy(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(proxy, strict=False) for proxy in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest | None) -> str | None:
    """The address a request came from, as far as it can be known.

    Headers are the client's word: X-Forwarded-For is read only when the peer is
    one of settings.TRUSTED_PROXIES, and then from its end, the hop our proxy
    appended, stepping over hops that are trusted proxies themselves. Whatever
    the client wrote before that is never taken.
    """
    if request is None:
        return None
    peer, _ = get_client_ip(request, request_header_order=["REMOTE_ADDR"])
    if peer is None or not _is_trusted_proxy(peer):
        return peer
    hops = 0
    while True:
        # The hop `hops` places from the end of X-Forwarded-For (None when the chain is shorter).
        ip, _ = get_client_ip(request, request_header_order=["HTTP_X_FORWARDED_FOR"], proxy_count=hops, strict=False)
        if ip is None:
            return peer
        if not _is_trusted_proxy(ip):
            return ip
        hops += 1


def audit_log(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        ip=client_ip(request),
        data=data or {},
    )
