"""A RedisBroker whose consumer sets undecodable messages aside instead of stalling on them.

Dramatiq's Redis consumer raises on a message it cannot decode, which drops the batch fetched
with it until the worker's heartbeat expires, and the bad message comes back forever. Here the
message is copied to a capped `<namespace>:offload.undecodable` list, acknowledged (so it leaves
the queue) and the consumer carries on with the rest of its batch.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import DecodeError

log = logging.getLogger(__name__)

KEEP_UNDECODABLE = 1_000
KEEP_BYTES = 65_536


class _SettingAsideConsumer(_RedisConsumer):  # type: ignore[misc]
    def __next__(self) -> Any:
        while True:
            try:
                return super().__next__()
            except DecodeError as exc:
                self._set_aside(exc.data)

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
