"""Offload's queue layout on Redis: strict priority, tenants in turn, task limits, leases,
durable delays, a blocking wake-up.

For each queue `q` (all keys share the hash tag `{q}`, so one queue lives in one cluster slot):

    offload:{q}:ready    sorted set  tenant -> turns taken: the tenants with ready messages
    offload:{q}:ready:<tenant>  sorted set  task id -> ready time - (priority - 1) x aging step
    offload:{q}:delayed  sorted set  task id -> due time: delayed tasks, retries in backoff,
                                     and messages over their rate limit, until their turn
    offload:{q}:leases   sorted set  "task id|owner.n" -> lease expiry: claimed, not yet acked
                                     (n counts the owner's fetches: one member per delivery)
    offload:{q}:msgs     hash        task id -> the encoded Dramatiq message
    offload:{q}:wake     list        wake-up tokens; idle consumers block on it (BLPOP)
    offload:{q}:wake:<owner>  list   a consumer's own token, pushed by its due-time timer
    offload:{q}:dead     list        the last DEAD_CAP messages Dramatiq gave up on (nack)

and for the task limits (task_limits.py), per limit key `k` and tenant `t`:

    offload:{q}:pace:<k>:<t>     string      when the next message is on time (rate limit)
    offload:{q}:paced            hash        task id -> 1: delayed for its rate, token taken
    offload:{q}:slots:<k>:<t>    sorted set  task id -> claim time: the concurrency slots held
    offload:{q}:slotof           hash        task id -> its slots key, until it is settled
    offload:{q}:parked:<k>:<t>   sorted set  task id -> its ready score: waiting for a slot
    offload:{q}:parkedin         hash        task id -> its parked key

Fairness: a fetch serves the tenants with ready messages in turn, one message each (the tenant
with the fewest turns first; a tenant that had nothing ready joins level with the next in
turn), and each tenant's most urgent message first. So a tenant that queued 10,000 tasks delays
another tenant's next task by at most one task per other busy tenant, whatever the backlog.
Priority orders a tenant's own tasks (and aging bounds it, as below); it does not let one
tenant's tasks pass another's.

Limits: a message whose task has a limit is checked as it is claimed. Over its rate it goes
to the delayed set until the time its token comes due (the token is taken now, so it passes
then without another check: no polling); over its concurrency it is parked until a message of
the same limit and tenant is settled, which moves the longest parked one back to its ready
set. The slot of a lost consumer's message frees when its lease expires. The consumer writes
each message held back to Postgres (`tasks.waiting`), so the task shows why it waits.

A consumer claims with one script (lua/fetch.lua) that acks what it finished, moves due delayed
messages and expired leases back to the ready set, and pops the lowest scores into its leases.
The score makes priority strict within a queue, FIFO within a level, and bounded by aging: a
task is passed only by more urgent tasks that became ready less than (difference in priority)
x aging step after it, so under a stream of priority-10 work a priority-1 task waits at most
9 aging steps longer than it would in a FIFO queue. Every time comes from the Redis server's
clock (milliseconds from EPOCH_MS), so consumers' clocks never matter, and the messages of
one batch are 0.1 microsecond apart in the order they were given. (A delay is relative: the
publisher computes it from the task's next_attempt_at in Postgres and its own clock.)

Message ids are task ids: publishing a task twice leaves one message (a ready one keeps its
place). The Postgres claim, not Redis, guarantees a task runs once.

`offload:epoch` holds the run id of the server whose queues were last reconciled with
Postgres: a server that restarted (empty or not), a flushed one (the key is gone) or a replica
promoted by a failover does not match it, and the scheduler puts back every pending task's
message that is missing (lua/restore.lua), then writes the key again.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, cast

import redis

__all__ = [
    "RedisQueues",
]

log = logging.getLogger(__name__)

NAMESPACE = "offload"
# Scores count milliseconds from this instant (2026-01-01), so that doubles keep the precision
# that orders the messages of one batch; the Lua scripts use the same constant.
EPOCH_MS = 1_767_225_600_000
WAKE_CAP = 32  # tokens kept on a wake list with nobody waiting (each costs one empty fetch)
DEAD_CAP = 1_000  # messages kept in the dead-letter list
BATCH = 1_000  # at most this many delayed messages or expired leases moved per fetch
KEEP_BYTES = 65_536  # of an undecodable message, kept for a post-mortem


@cache
def _lua(name: str) -> str:
    """A script, after the prelude every script shares (lua/clock.lua)."""
    folder = resources.files(__package__ or "offload_shared.broker").joinpath("lua")
    return folder.joinpath("clock.lua").read_text("utf-8") + folder.joinpath(
        f"{name}.lua"
    ).read_text("utf-8")


@dataclass(frozen=True)
class QueueKeys:
    ready: str
    delayed: str
    leases: str
    msgs: str
    wake: str
    dead: str

    @classmethod
    def of(cls, queue: str, namespace: str = NAMESPACE) -> QueueKeys:
        base = f"{namespace}:{{{queue}}}"
        return cls(f"{base}:ready", f"{base}:delayed", f"{base}:leases", f"{base}:msgs",
                   f"{base}:wake", f"{base}:dead")  # fmt: skip

    def own_wake(self, owner: str) -> str:
        return f"{self.wake}:{owner}"

    def ready_of(self, tenant: str) -> str:
        """One tenant's ready set (`ready` itself holds the tenants that have one)."""
        return f"{self.ready}:{tenant}"

    @property
    def parkedin(self) -> str:
        """Task id -> the parked set it waits in, for a concurrency slot."""
        return self.ready.removesuffix("ready") + "parkedin"

    @property
    def pattern(self) -> str:
        """Every key of the queue."""
        return self.ready.removesuffix("ready") + "*"


@dataclass(frozen=True)
class Restored:
    """One pending task's message to put back if it is missing: `at_ms` is its ready time."""

    id: str
    priority: int
    at_ms: float
    tenant: str
    payload: bytes


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: its task id, priority (1-10), delay, tenant and encoded message."""

    id: str
    priority: int
    delay_ms: int
    payload: bytes
    tenant: str = ""


@dataclass(frozen=True)
class Fetched:
    messages: list[tuple[str, bytes]]  # (task id, payload), tenants in turn, most urgent first
    next_due_ms: int | None  # until the earliest delayed message is due; None if there is none
    reclaimed: int  # expired leases (a lost consumer's messages) put back in the ready set
    held: list[tuple[str, str]] = field(default_factory=list)  # (task id, reason) held back


@dataclass(frozen=True)
class Limit:
    """A task's limit, as fetch.lua applies it: per tenant, under `key` (tasks sharing a key
    share its rate and slots)."""

    actor: str
    key: str
    rate_per_second: float
    burst: int
    concurrency: int


@dataclass(frozen=True)
class QueueSizes:
    ready: int
    delayed: int
    leased: int
    parked: int = 0


class Channel:
    """A connection of its own for one consumer or one thread: its script calls and blocking
    waits skip redis-py's per-command pool checkout and bookkeeping (a fifth of a busy
    consumer's CPU, a sixth of an enqueue's). Any error closes it; the next call reconnects."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._conn: Any = None

    def call(self, *args: Any) -> Any:
        if self._conn is None:
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
            # Connect explicitly: a Sentinel connection finds the master in connect(), which
            # send_command's own implicit connect skips (it would dial the default address).
            conn.connect()
            self._conn = conn
        try:
            self._conn.send_command(*args)
            return self._conn.read_response()
        except redis.exceptions.NoScriptError:
            raise
        except BaseException:
            self.close()
            raise

    def evalsha(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # the server restarted or was flushed
            sha = self.call("SCRIPT", "LOAD", script.script)
            script.sha = sha.decode() if isinstance(sha, bytes) else sha
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    def blpop(self, keys: list[str], timeout: float) -> Any:
        return self.call("BLPOP", *keys, timeout)

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.disconnect()


def lease_member(task_id: str, owner: str) -> str:
    """A lease's member; `owner` is the one the fetch was given (a consumer passes its own
    name and a fetch number, so that every delivery has a member of its own)."""
    return f"{task_id}|{owner}"


class RedisQueues:
    """The scripts and commands of the layout above, on one Redis client."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = NAMESPACE,
        aging_ms: int,
        lease_ms: int,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.aging_ms = aging_ms
        self.lease_ms = lease_ms
        self._push = client.register_script(_lua("push"))
        self._fetch = client.register_script(_lua("fetch"))
        self._settle = client.register_script(_lua("settle"))
        self._retract = client.register_script(_lua("retract"))
        self._restore = client.register_script(_lua("restore"))
        self._local = threading.local()
        self._channels: weakref.WeakSet[Channel] = weakref.WeakSet()
        self.undecodable_key = f"{namespace}:undecodable"
        self.epoch_key = f"{namespace}:epoch"

    def keys(self, queue: str) -> QueueKeys:
        return QueueKeys.of(queue, self.namespace)

    def push(self, batches: Mapping[str, Sequence[Outgoing]]) -> None:
        """Publish messages: one script call per queue, usually one (a redis-py pipeline of
        scripts would cost an extra SCRIPT EXISTS round trip)."""
        for queue, messages in batches.items():
            k = self.keys(queue)
            args: list[bytes | str | int] = [self.aging_ms, WAKE_CAP]
            for m in messages:
                args += [m.id, m.priority, max(0, m.delay_ms), m.tenant, m.payload]
            self._thread_channel().evalsha(self._push, [k.ready, k.delayed, k.msgs, k.wake], args)

    def restore(self, queue: str, messages: Sequence[Restored], *, fix: bool = False) -> int:
        """Put back those of `messages` that are neither ready nor delayed (with `fix`, also
        move those queued in the wrong set, see lua/restore.lua); returns how many."""
        if not messages:
            return 0
        k = self.keys(queue)
        args: list[Any] = [self.aging_ms, WAKE_CAP, int(fix)]
        for m in messages:
            args += [m.id, m.priority, m.at_ms, m.tenant, m.payload]
        return int(self._restore(keys=[k.ready, k.delayed, k.msgs, k.wake], args=args))

    def identity(self) -> tuple[str | None, str | None]:
        """(the server's run id, or None if INFO is not allowed; the epoch key's value)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.epoch_key)
        pipe.info("server")
        epoch, info = pipe.execute(raise_on_error=False)
        if isinstance(epoch, Exception):
            raise epoch
        run_id = info.get("run_id") if isinstance(info, dict) else None
        return (str(run_id) if run_id else None), (epoch.decode() if epoch else None)

    def set_epoch(self, value: str) -> None:
        self.client.set(self.epoch_key, value)

    def eviction_policy(self) -> str | None:
        """The server's maxmemory-policy, or None if it does not say."""
        try:
            policy = self.client.info("memory").get("maxmemory_policy")
        except redis.ResponseError:  # INFO not allowed (a managed service, an ACL)
            return None
        return str(policy) if policy else None

    def eviction_warning(self) -> str | None:
        """What to tell an operator if Redis may evict queue keys (None: it may not, or it
        does not say); raises redis.RedisError if Redis is away."""
        policy = self.eviction_policy()
        # volatile-* policies evict only keys with a TTL, and Offload's queue keys have none.
        if policy is None or policy == "noeviction" or policy.startswith("volatile-"):
            return None
        return (
            f"Redis maxmemory-policy is {policy}, not noeviction: an evicted queue key is work "
            "that waits for the scheduler's reconciliation (OFFLOAD_REPUBLISH_AFTER_SECONDS)"
        )

    def warn_if_evicting(self) -> None:
        """At a service's start: log the eviction warning, if any (Redis away: nothing)."""
        try:
            warning = self.eviction_warning()
        except redis.RedisError:
            return
        if warning is not None:
            log.warning("%s", warning)

    def channel(self) -> Channel:
        """A channel for one consumer (it closes it when it closes)."""
        return Channel(self.client.connection_pool)

    def _thread_channel(self) -> Channel:
        """This thread's own channel (publishing threads: API requests, worker retries)."""
        mine = getattr(self._local, "channel", None)
        if mine is None or mine[0] != os.getpid():
            mine = self._local.channel = (os.getpid(), Channel(self.client.connection_pool))
            self._channels.add(mine[1])
        return mine[1]

    def close(self) -> None:
        """Close the threads' channels (each would reconnect if used again)."""
        for channel in list(self._channels):
            channel.close()

    def fetch(
        self,
        queue: str,
        owner: str,
        limit: int,
        acks: Sequence[str] = (),
        *,
        limits: Sequence[Limit] = (),
        channel: Channel | None = None,
    ) -> Fetched:
        k = self.keys(queue)
        keys = [k.ready, k.delayed, k.leases, k.msgs, k.wake]
        args: list[Any] = [owner, self.lease_ms, self.aging_ms, limit, BATCH, WAKE_CAP]
        args.append(len(limits))
        for rule in limits:
            args += [rule.actor, rule.key, rule.rate_per_second, rule.burst, rule.concurrency]
        args += acks
        reply = (channel or self._thread_channel()).evalsha(self._fetch, keys, args)
        due, held_n = int(reply[0]), int(reply[2])
        held = [(reply[i].decode(), reply[i + 1].decode()) for i in range(3, 3 + 2 * held_n, 2)]
        pairs = reply[3 + 2 * held_n :]
        messages = [(pairs[i].decode(), pairs[i + 1]) for i in range(0, len(pairs), 2)]
        return Fetched(messages, None if due < 0 else due, int(reply[1]), held)

    def settle(
        self,
        queue: str,
        mode: str,
        members: Sequence[str],
        *,
        delay_ms: int = 0,
        payloads: Sequence[bytes] = (),
    ) -> int:
        """`ack`, `requeue`, `release` (after delay_ms) or `dead` leased messages; requeue and
        release take each member's payload too."""
        if not members:
            return 0
        k = self.keys(queue)
        if mode in ("requeue", "release"):
            assert len(payloads) == len(members), "requeue and release take the payloads"
            tail: list[Any] = [x for pair in zip(members, payloads, strict=True) for x in pair]
        else:
            tail = list(members)
        return int(
            self._settle(
                keys=[k.ready, k.delayed, k.leases, k.msgs, k.wake, k.dead],
                args=[mode, self.aging_ms, delay_ms, WAKE_CAP, DEAD_CAP, *tail],
            )
        )

    def renew(self, queue: str, members: Iterable[str]) -> None:
        """Extend the leases still held (XX: a lease already given back stays given back)."""
        members = list(members)
        if members:
            expiry = self.server_ms() + self.lease_ms
            self.client.zadd(self.keys(queue).leases, dict.fromkeys(members, expiry), xx=True)

    def retract(self, queue: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        k = self.keys(queue)
        return int(self._retract(keys=[k.ready, k.delayed, k.msgs], args=list(ids)))

    def wait(
        self, queue: str, owner: str, timeout_s: float, *, channel: Channel | None = None
    ) -> bool:
        """Block until a wake-up token arrives (True) or `timeout_s` passes (False).

        Redis checks blocking timeouts only about every 100 ms (hz 10), so callers that must
        wake at a precise time push their own token instead (`wake_own`).
        """
        k = self.keys(queue)
        keys, timeout = [k.wake, k.own_wake(owner)], max(timeout_s, 0.01)
        if channel is not None:
            return channel.blpop(keys, timeout) is not None
        return self.client.blpop(keys, timeout=timeout) is not None

    def wake_own(self, queue: str, owner: str) -> None:
        key = self.keys(queue).own_wake(owner)
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(key, "1")
        pipe.ltrim(key, -1, -1)
        pipe.expire(key, 60)
        pipe.execute()

    def set_aside(self, record: bytes) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(self.undecodable_key, record)
        pipe.ltrim(self.undecodable_key, 0, DEAD_CAP - 1)
        pipe.execute()

    def sizes(self, queue: str) -> QueueSizes:
        k = self.keys(queue)
        tenants = self._members(k.ready)
        pipe = self.client.pipeline(transaction=False)
        for key in (k.delayed, k.leases):
            pipe.zcard(key)
        pipe.hlen(k.parkedin)
        for tenant in tenants:
            pipe.zcard(k.ready_of(tenant))
        delayed, leased, parked, *ready = pipe.execute()
        return QueueSizes(sum(int(n) for n in ready), int(delayed), int(leased), int(parked))

    def _members(self, key: str) -> list[str]:
        return [m.decode() for m in cast("list[bytes]", self.client.zrange(key, 0, -1))]

    def flush(self, queue: str) -> None:
        keys = list(self.client.scan_iter(match=self.keys(queue).pattern, count=1_000))
        if keys:
            self.client.delete(*keys)

    def server_ms(self) -> float:
        """The Redis server's clock, as the scripts count it (from EPOCH_MS)."""
        seconds, micros = self.client.time()
        return seconds * 1000 + micros / 1000 - EPOCH_MS
