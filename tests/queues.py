"""Reading Offload's Redis layout (offload_shared.broker.layout) in tests."""

from __future__ import annotations

import redis

from offload_shared.broker.layout import QueueKeys


def ready_ids(client: redis.Redis, queue: str) -> list[str]:
    """Ready task ids of every tenant, most urgent first (by score: the order within a tenant;
    across tenants a fetch takes them in turn instead)."""
    keys = QueueKeys.of(queue)
    scored = [
        (score, member.decode())
        for tenant in client.zrange(keys.ready, 0, -1)
        for member, score in client.zrange(keys.ready_of(tenant.decode()), 0, -1, withscores=True)
    ]
    return [task_id for _, task_id in sorted(scored)]


def delayed_ids(client: redis.Redis, queue: str) -> set[str]:
    return {m.decode() for m in client.zrange(QueueKeys.of(queue).delayed, 0, -1)}


def leased_ids(client: redis.Redis, queue: str) -> set[str]:
    return {m.decode().split("|")[0] for m in client.zrange(QueueKeys.of(queue).leases, 0, -1)}


def message_ids(client: redis.Redis, queue: str) -> set[str]:
    """Every task id with a message stored on the queue (ready, delayed or leased)."""
    return {k.decode() for k in client.hkeys(QueueKeys.of(queue).msgs)}


def in_hand(client: redis.Redis) -> set[str]:
    """Task ids leased by a consumer on any queue (claimed, not yet acked)."""
    found: set[str] = set()
    for key in client.scan_iter("offload:{*}:leases"):
        found |= {m.decode().split("|")[0] for m in client.zrange(key, 0, -1)}
    return found
