"""Nexus settings with the channel layer chosen by the fan-out benchmark.

bench/fanout.py passes this module as DJANGO_SETTINGS_MODULE to daphne and to
its publisher, with BENCH_CHANNEL_LAYER set to `core` (channels_redis's
RedisChannelLayer) or `pubsub` (RedisPubSubChannelLayer, what nexus.settings
uses), so both ends of a run always share one layer.
"""

import os

from nexus.settings import *  # noqa: F403
from nexus.settings import REDIS_URL, redis_channel_layers

BENCH_CHANNEL_LAYER = os.environ.get("BENCH_CHANNEL_LAYER", "core")

if not REDIS_URL:
    raise RuntimeError("bench.fanout_settings needs REDIS_URL")
if BENCH_CHANNEL_LAYER == "core":
    # The list-based layer, with the capacity and expiry Nexus used before
    # choosing Pub/Sub.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 100, "expiry": 10, "group_expiry": 3600},
        }
    }
elif BENCH_CHANNEL_LAYER == "pubsub":
    CHANNEL_LAYERS = redis_channel_layers(REDIS_URL)  # what nexus.settings uses
else:
    raise RuntimeError(f"BENCH_CHANNEL_LAYER must be core or pubsub, not {BENCH_CHANNEL_LAYER!r}")

if os.environ.get("BENCH_SKIP_DISPATCH_HOP"):
    # What-if for `bench/fanout.py --skip-dispatch-hop` only: channels' consumer
    # runs close_old_connections in the sync thread (a thread hop) before every
    # message handler; this measures the fan-out without that hop.
    import channels.consumer

    async def _no_hop() -> None:
        return None

    channels.consumer.aclose_old_connections = _no_hop
