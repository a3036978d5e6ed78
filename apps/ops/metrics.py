"""Counters, gauges and histograms that live in the process that observes them.

They sit in prometheus_client's default registry, beside django-prometheus's
HTTP and database metrics. Each process serves its own: the web process at
/metrics, the feed and the worker on their own ports (apps.ops.exporters).
What the database already knows (open contracts, escrow, bots running, tick
age...) is read at scrape time instead, by apps.ops.collectors.

Gauges name a multiprocess mode: the worker runs prometheus_client in
multiprocess mode (django-q2 forks its workers), where a gauge must say how the
values of several processes add up; elsewhere the mode is ignored.
"""

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# A `_created` series per counter doubles the series and no panel reads it.
disable_created_metrics()

# Fed by apps.ops.receivers from the domain apps' signals.
TICKS_COMMITTED = Counter(
    "nexus_ticks_committed",
    "Ticks committed by the feeds, per market.",
    ["market"],
)
CONTRACTS_SETTLED = Counter(
    "nexus_contracts_settled",
    "Contracts settled, per outcome (WON, LOST, TIE, VOID, REFUSED).",
    ["status"],
)
SETTLEMENT_LAG = Histogram(
    "nexus_settlement_lag_seconds",
    "From a contract's exit tick to its settlement.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)

# Fed by the realtime app (consumers.py and push.py).
WS_CONNECTIONS = Gauge(
    "nexus_ws_connections",
    "Open live WebSockets (signed-in pages).",
    multiprocess_mode="livesum",
)
WS_PUSHES = Counter(
    "nexus_ws_pushes",
    "Fragments published to the channel layer, per group kind (user, market).",
    ["group"],
)
WS_TICKS_DROPPED = Counter(
    "nexus_ws_ticks_dropped",
    "Ticks a socket dropped because they arrived after their time to live.",
)

# Fed by the Deriv connection manager (apps/deriv/session.py), in the run_deriv process.
DERIV_BUDGET_USED = Gauge(
    "nexus_deriv_budget_used",
    "Requests one Deriv account's socket sent in the last minute, per budget group (apps/deriv/budget.py).",
    ["account", "group"],
    multiprocess_mode="max",
)
