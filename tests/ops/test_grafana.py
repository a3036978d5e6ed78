import json
import re

from django.conf import settings
from prometheus_client import REGISTRY

from apps.ops.collectors import DOMAIN_REGISTRY

DASHBOARD = settings.BASE_DIR / "ops" / "grafana" / "nexus.json"
METRIC = re.compile(r"\b(?:nexus|django)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def families() -> dict[str, str]:
    """{family name: type} of everything the web, feed and worker processes expose."""
    return {family.name: family.type for registry in (REGISTRY, DOMAIN_REGISTRY) for family in registry.collect()}


def queries(dashboard) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_is_valid_json_with_a_panel_per_figure():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "nexus-ops"
    assert len(queries(dashboard)) >= 20
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_metric_the_dashboard_queries_exists(client, db):
    client.get("/health/")  # django-prometheus defines its HTTP metrics with its middleware
    known = families()
    exposed = {name + suffix for name, kind in known.items() for suffix in SUFFIXES.get(kind, ("",))}
    used = {name for expr in queries(json.loads(DASHBOARD.read_text())) for name in METRIC.findall(expr)}
    assert used - exposed == set()
    # And every domain figure has a panel.
    domain = {name for name in known if name.startswith("nexus_")}
    assert {name for name in domain if not any(query.startswith(name) for query in used)} == set()
