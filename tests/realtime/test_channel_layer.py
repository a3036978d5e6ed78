"""The Redis channel layer as configured: a channel that cannot keep up is capped, never grows."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer

from nexus.settings import redis_channel_layers
from tests.support.redis import embedded_redis


@pytest.fixture(scope="module")
def layer():
    with embedded_redis() as url:
        config = redis_channel_layers(url)["default"]["CONFIG"]
        yield RedisChannelLayer(**config)


def test_a_channel_that_is_not_read_holds_at_most_its_capacity(layer):
    async def scenario():
        slow = await layer.new_channel()
        await layer.group_add("market.TEST", slow)
        for seq in range(250):
            await layer.group_send("market.TEST", {"type": "push.html", "html": str(seq)})
        received = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(slow), timeout=0.5)
            except TimeoutError:
                break
            received.append(int(message["html"]))
        return received

    received = async_to_sync(scenario)()
    capacity = redis_channel_layers("redis://x")["default"]["CONFIG"]["capacity"]
    assert 0 < len(received) <= capacity
    assert received == sorted(received)
    # What fitted is delivered in order; the surplus was dropped at the sender (and
    # anything left unread expires after the layer's expiry).
    assert received == list(range(len(received)))
