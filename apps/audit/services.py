import gzip
import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
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


ARCHIVE_BATCH = 5000


def _exact(event: dict) -> dict:
    # Full ISO 8601 with microseconds (Django's JSON encoder keeps milliseconds only).
    return event | {"created_at": event["created_at"].isoformat()}


def audit_archive(*, before, directory: Path, batch: int = ARCHIVE_BATCH) -> int:
    """Move audit events created before `before` into gzip JSON-lines files in `directory`; returns how many moved.

    Audit events are never lost: each batch is written to its own file, closed,
    flushed to disk and renamed into place before exactly those rows are
    deleted. A run stopped in between leaves the rows in the table, archived
    again (in another file) by the next run: a duplicate, never a gap.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fields = ["id", "created_at", "actor_id", "action", "target_type", "target_id", "target_repr", "ip", "data"]
    moved = 0
    while True:
        events = list(AuditEvent.objects.filter(created_at__lt=before).order_by("id").values(*fields)[:batch])
        if not events:
            return moved
        first, last = events[0]["id"], events[-1]["id"]
        name = f"audit-{first:012d}-{last:012d}-{timezone.now():%Y%m%dT%H%M%S%f}.jsonl.gz"
        partial = directory / f".{name}.partial"
        with gzip.open(partial, "wt", encoding="utf-8") as archive:
            for event in events:
                archive.write(json.dumps(_exact(event), separators=(",", ":"), sort_keys=True) + "\n")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        partial.rename(directory / name)
        # The append-only manager refuses deletes; archiving is the one way rows leave.
        AuditEvent._base_manager.filter(pk__in=[e["id"] for e in events]).delete()
        moved += len(events)
