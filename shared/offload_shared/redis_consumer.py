"""A RedisBroker whose consumer sets undecodable messages aside instead of stalling on them,
and gives back the delayed messages a lost connection stranded.

Dramatiq's Redis consumer raises on a message it cannot decode, which drops the batch fetched
with it until the worker's heartbeat expires, and the bad message comes back forever. Here the
message is copied to a capped `<namespace>:offload.undecodable` list, acknowledged (so it leaves
the queue) and the consumer carries on with the rest of its batch.

A delay queue's fetched messages (delayed tasks, retries in backoff) live only in the memory of
the worker's consumer thread until their time comes. When the Redis connection fails, Dramatiq
forgets them and starts a new consumer, leaving them in this worker's ack set, where nothing
requeues them while the worker lives. A new delay-queue consumer therefore first moves whatever
its broker still holds unacked on that queue back onto it. For the same reason a lost
connection while enqueueing raises Dramatiq's ConnectionClosed, which its consumer threads
recover from, rather than redis' own error, which kills them.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed, DecodeError

log = logging.getLogger(__name__)

KEEP_UNDECODABLE = 1_000
KEEP_BYTES = 65_536


class _SettingAsideConsumer(_RedisConsumer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reclaim = self.queue_name.endswith(".DQ")

    def __next__(self) -> Any:
        if self._reclaim:
            self._reclaim_delayed()
            self._reclaim = False
        while True:
            try:
                return super().__next__()
            except DecodeError as exc:
                self._set_aside(exc.data)

    def _reclaim_delayed(self) -> None:
        """Requeue this broker's unacked delay-queue messages (none when the worker starts)."""
        broker: RedisBroker = self.broker
        acks_key = f"{broker.namespace}:__acks__.{broker.broker_id}.{self.queue_name}"
        try:
            ids = [
                i.decode() if isinstance(i, bytes) else i for i in broker.client.smembers(acks_key)
            ]
            if ids:
                broker.do_requeue(self.queue_name, *ids)
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # Dramatiq reconnects
            raise ConnectionClosed(exc) from exc
        if ids:
            log.warning("gave back %d delayed message(s) on %s", len(ids), self.queue_name)

    def _set_aside(self, data: bytes) -> None:
        broker: RedisBroker = self.broker
        messages_key = f"{broker.namespace}:{self.queue_name}.msgs"
        ids = [key for key, value in broker.client.hscan_iter(messages_key) if value == data]
        record = {
            "queue": self.queue_name,
            "redis_message_ids": [i.decode(errors="replace") for i in ids],
            "at": time.time(),
            "data_base64": base64.b64encode(data[:KEEP_BYTES]).decode(),
        }
        dead_key = f"{broker.namespace}:offload.undecodable"
        broker.client.lpush(dead_key, json.dumps(record))
        broker.client.ltrim(dead_key, 0, KEEP_UNDECODABLE - 1)
        for redis_id in ids:
            broker.do_ack(self.queue_name, redis_id.decode())
        log.warning("set aside an undecodable message on queue %s", self.queue_name)


class OffloadRedisBroker(RedisBroker):
    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _SettingAsideConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """RedisBroker.enqueue, but a lost connection raises Dramatiq's ConnectionClosed.

        A worker's consumer thread enqueues each delayed message when its time comes; Dramatiq
        recovers only from its own connection errors there, and a raw redis error kills the
        thread for good, and with it every later delayed task and retry of that worker.
        """
        try:
            return super().enqueue(message, delay=delay)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ConnectionClosed(exc) from exc
