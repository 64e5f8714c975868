"""Offload's Dramatiq broker: Dramatiq's actors, middleware and worker over our Redis layout.

Dramatiq's own Redis broker keeps FIFO lists, polls with a backoff of up to a second when a
queue is empty, holds delayed messages in each worker's memory and gives a dead worker's
messages back only during a random maintenance pass. This broker keeps the Broker/Consumer
interface and replaces what lies under it (layout.py next to this file holds the layout, and
lua/ its scripts):

- the consumer claims at most `prefetch` messages ahead of its worker's threads (threads x
  OFFLOAD_WORKER_LOOKAHEAD), most urgent first, so a task never waits long in one worker's
  memory while a free thread elsewhere could run it;
- an idle consumer blocks on the queue's wake-up list and wakes when a task is published, or
  at the due time of the earliest delayed task (a timer of its own pushes a token then);
- acks ride on the consumer's next claim, which comes within its idle timeout (a second)
  even when the queue is empty, or go on their own while every thread is busy;
- a timer thread renews the process's leases while it lives; a lost process's leases expire
  and the next claim by any consumer of the queue puts those messages back;
- a message that cannot be decoded is set aside in `offload:undecodable` and the rest of the
  batch carries on;
- once the worker begins to shut down its consumers claim nothing more.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import orjson
import redis
from dramatiq import Broker, Consumer, Message
from dramatiq.broker import MessageProxy
from dramatiq.errors import ConnectionClosed, DecodeError, QueueJoinTimeout
from dramatiq.middleware import Middleware

from offload_shared.broker.layout import (
    EPOCH_MS,
    KEEP_BYTES,
    NAMESPACE,
    Limit,
    Outgoing,
    RedisQueues,
    Restored,
    lease_member,
)
from offload_shared.group_commit import Write
from offload_shared.models import Task
from offload_shared.redis_connection import RedisTarget

__all__ = [
    "OffloadBroker",
    "disconnect",
    "make_broker",
]

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 5
ADMIT_FAILURE_RELEASE_MS = 5_000
CLOSE_WAIT_SECONDS = 10.0
RECHECK_AFTER_SECONDS = 2.0  # an admitted message that waited longer re-checks its claim


def task_message(task: Task) -> Message[Any]:
    """The message for a task: its id is the task id; params stay in Postgres."""
    return dramatiq.Message(
        queue_name=task.queue,
        actor_name=task.task_name,
        args=(),
        kwargs={},
        options={"priority": task.priority, "tenant": task.tenant},
        message_id=str(task.id),
        message_timestamp=int(time.time() * 1000),
    )


def encode(message: Message[Any]) -> bytes:
    """Dramatiq's message format (JSON), written by orjson: a fifth of the standard library's
    cost, which every enqueue pays."""
    return orjson.dumps(message.asdict())


def decode(payload: bytes) -> Message[Any]:
    try:
        fields = orjson.loads(payload)
        fields["args"] = tuple(fields["args"])
        return Message(**fields)
    except Exception as exc:  # junk: not JSON, not an object, fields missing or unknown
        raise DecodeError("Failed to decode message.", payload, exc) from exc


class Leased(MessageProxy):
    """A claimed message and its lease.

    Set by the worker's middleware: `admitted` (what `OffloadBroker.admit` made of it, e.g.
    the task claimed in Postgres; `batch_admitted` says admit ran, `admitted_at` when, on the
    monotonic clock), `release_ms` (put it back after that delay instead of acking it) and
    `commit` (a pending status write: the ack waits for it, the worker thread does not).
    """

    def __init__(self, message: Message[Any], lease: str, payload: bytes) -> None:
        super().__init__(message)
        self.lease = lease
        self.payload = payload
        self.batch_admitted = False
        self.admitted: Any = None
        self.admitted_at = 0.0
        self.release_ms: int | None = None
        self.commit: Write | None = None

    def waited(self) -> float:
        """Seconds since it was admitted (0 if it was not admitted in a batch)."""
        return time.monotonic() - self.admitted_at if self.batch_admitted else 0.0


def release_later(message: MessageProxy, delay_ms: int) -> None:
    """Have the broker put this message back after `delay_ms` instead of acking it."""
    if isinstance(message, Leased):
        message.release_ms = delay_ms


def ack_after(message: MessageProxy, commit: Write) -> None:
    """Ack this message only once `commit` (its status write) is resolved."""
    if isinstance(message, Leased):
        message.commit = commit
    else:
        commit.wait()


# Claims a batch of fetched messages before they are handed to worker threads; returns those
# to run. Each of the others is acked, or released if its `release_ms` is set.
Admit = Callable[[list[Leased]], list[Leased]]
# Undoes the claims of admitted messages that are requeued unstarted (at a shutdown).
GiveBack = Callable[[list[Leased]], None]
# Records why fetched messages were held back by their limits: (task id, reason) pairs.
NoteHeld = Callable[[list[tuple[str, str]]], None]


@dataclass
class _QueueState:
    """One process's hold on one queue, shared by its consumer (and a replacement after a
    connection error) and its worker threads."""

    leased: set[str] = field(default_factory=set)  # held: renewed until their ack is sent
    busy: int = 0  # handed out (or about to be) and not finished: counts against prefetch
    committing: int = 0  # finished, acked once their status writes commit
    acks: list[str] = field(default_factory=list)  # sent with the consumer's next fetch
    fetches: int = 0  # numbers each fetch's leases (a replacement consumer carries on)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def sent(self, acks: Sequence[str]) -> None:
        """These acks reached Redis: stop renewing them."""
        with self.cond:
            self.leased.difference_update(acks)


class OffloadBroker(Broker):
    def __init__(
        self,
        redis_at: str | RedisTarget,
        *,
        middleware: Sequence[Middleware] = (),
        namespace: str = NAMESPACE,
        aging_seconds: float = 60.0,
        lease_seconds: float = 15.0,
        prefetch: int | None = None,
    ) -> None:
        super().__init__(middleware=list(middleware))
        target = RedisTarget(redis_at) if isinstance(redis_at, str) else redis_at
        self.client = target.client()
        self.redis = RedisQueues(
            self.client,
            namespace=namespace,
            aging_ms=int(aging_seconds * 1000),
            lease_ms=int(lease_seconds * 1000),
        )
        self.lease_seconds = lease_seconds
        self.prefetch = prefetch
        self.admit: Admit | None = None  # these three set by the worker's status middleware
        self.give_back: GiveBack | None = None
        self.note_held: NoteHeld | None = None
        self.limits: dict[str, list[Limit]] = {}  # queue -> its tasks' limits (the worker's)
        self.queues: set[str] = set()
        self.draining = False  # set as the worker shuts down: claim nothing more
        self._states: dict[str, _QueueState] = {}
        self._owner: tuple[int, str] | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def owner(self) -> str:
        """This process's name on its leases (made anew after a fork)."""
        pid = os.getpid()
        if self._owner is None or self._owner[0] != pid:
            self._owner = (pid, uuid.uuid4().hex[:16])
            self._states = {}
            renewer = threading.Thread(target=self._renew_leases, name="offload-leases")
            renewer.daemon = True
            renewer.start()
        return self._owner[1]

    def state(self, queue: str) -> _QueueState:
        _ = self.owner  # resets the states in a forked child
        with self._lock:
            return self._states.setdefault(queue, _QueueState())

    def _renew_leases(self) -> None:
        """Every third of a lease, extend the leases this process holds (a thread of its own:
        a consumer blocked on a busy worker, or a long status write, must not let them lapse)."""
        pid = os.getpid()
        while not self._closed.wait(self.lease_seconds / 3) and os.getpid() == pid:
            with self._lock:
                states = list(self._states.items())
            for queue, state in states:
                with state.cond:
                    members = list(state.leased)
                try:
                    self.redis.renew(queue, members)
                except redis.RedisError as exc:
                    log.warning("could not renew %d lease(s) on %s: %s", len(members), queue, exc)

    # -- Dramatiq's Broker interface -------------------------------------------------------------

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 1000) -> Consumer:
        return _Consumer(self, queue_name, self.prefetch or prefetch, timeout)

    def declare_queue(self, queue_name: str) -> None:
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.emit_after("declare_queue", queue_name)

    def get_declared_queues(self) -> set[str]:
        return self.queues.copy()

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        self.publish([(message, delay or 0)])
        return message

    def publish(self, messages: Iterable[tuple[Message[Any], int]]) -> None:
        """Publish (message, delay ms) pairs in one round trip; priority from its options."""
        batches: dict[str, list[Outgoing]] = {}
        for message, delay in messages:
            self.emit_before("enqueue", message, delay or None)
            priority = int(message.options.get("priority", DEFAULT_PRIORITY))
            tenant = str(message.options.get("tenant", ""))
            batches.setdefault(message.queue_name, []).append(
                Outgoing(message.message_id, priority, delay, encode(message), tenant)
            )
        self.redis.push(batches)

    def restore(self, tasks: Sequence[Task], *, fix: bool = False) -> int:
        """Put back the missing messages of pending tasks (see RedisQueues.restore)."""
        batches: dict[str, list[Restored]] = {}
        for task in tasks:
            ready_at = task.next_attempt_at or task.created_at
            batches.setdefault(task.queue, []).append(
                Restored(
                    str(task.id),
                    task.priority,
                    ready_at.timestamp() * 1000 - EPOCH_MS,
                    task.tenant,
                    encode(task_message(task)),
                )
            )
        return sum(self.redis.restore(q, batch, fix=fix) for q, batch in batches.items())

    def retract(self, queue: str, message_ids: Sequence[str]) -> int:
        return self.redis.retract(queue, message_ids)

    def flush(self, queue_name: str) -> None:
        self.redis.flush(queue_name)

    def flush_all(self) -> None:
        for queue in self.queues:
            self.flush(queue)

    def join(self, queue_name: str, *, timeout: int | None = None, interval: int = 50) -> None:
        """Wait until nothing is ready, delayed or leased on the queue (for tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        while True:
            sizes = self.redis.sizes(queue_name)
            if sizes.ready == sizes.delayed == sizes.leased == sizes.parked == 0:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise QueueJoinTimeout(queue_name)
            time.sleep(interval / 1000)

    def close(self) -> None:
        self._closed.set()
        self.redis.close()
        self.client.close()
        self.client.connection_pool.disconnect()


class _Consumer(Consumer):
    """One queue's consumer in one worker process (see the module docstring)."""

    def __init__(self, broker: OffloadBroker, queue: str, prefetch: int, timeout_ms: int) -> None:
        self.broker = broker
        self.queue = queue
        self.prefetch = max(1, prefetch)
        self.timeout = timeout_ms / 1000
        self.owner = broker.owner
        self.state = broker.state(queue)
        self.cache: deque[Leased] = deque()
        self.channel = broker.redis.channel()

    def __next__(self) -> MessageProxy | None:
        try:
            return self._next()
        except redis.RedisError as exc:  # Dramatiq starts a new consumer after this
            raise ConnectionClosed(exc) from exc

    def _next(self) -> MessageProxy | None:
        deadline = time.monotonic() + self.timeout
        state = self.state
        while True:
            if self.cache:
                return self.cache.popleft()
            with state.cond:
                free = 0 if self.broker.draining else self.prefetch - state.busy
                if free <= 0:  # every thread is busy: a finished one wakes us
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        state.cond.wait(remaining)
                        continue
                    acks, state.acks = state.acks, []
                else:
                    acks, state.acks = state.acks, []
                    state.fetches += 1
                    owner = f"{self.owner}.{state.fetches}"  # a member of its own per delivery
            if free <= 0:  # busy for a whole idle timeout: send the acks on their own
                self._send_acks(acks)
                return None
            try:
                fetched = self.broker.redis.fetch(
                    self.queue,
                    owner,
                    free,
                    acks,
                    limits=self.broker.limits.get(self.queue, ()),
                    channel=self.channel,
                )
            except redis.RedisError:
                with state.cond:
                    state.acks[:0] = acks
                raise
            state.sent(acks)
            if fetched.reclaimed:
                log.warning(
                    "gave back %d message(s) of a lost consumer on %s",
                    fetched.reclaimed,
                    self.queue,
                )
            if fetched.held:
                self._note_held(fetched.held)
            self._take(owner, fetched.messages)
            if len(fetched.messages) >= free:
                continue  # there may be more
            if self.cache:
                return self.cache.popleft()  # the ready set is empty: no need to ask again
            if not self._idle(deadline, fetched.next_due_ms):
                return None

    def _take(self, owner: str, messages: list[tuple[str, bytes]]) -> None:
        """Hand the fetched messages to admit; cache those to run, settle the others."""
        fetched: list[Leased] = []
        junk: list[tuple[str, bytes, str]] = []
        for task_id, payload in messages:
            member = lease_member(task_id, owner)
            try:
                fetched.append(Leased(decode(payload), member, payload))
            except DecodeError:
                junk.append((task_id, payload, member))
        state = self.state
        with state.cond:
            # A second delivery of a message this process still holds (a copy the scheduler's
            # reconciliation put back while the first was in flight) is acked, never claimed:
            # a claim retried after a cut-off commit counts this worker's running tasks as its
            # own, so a duplicate must not reach it.
            held = {lease.partition("|")[0] for lease in state.leased}
            state.leased.update(m.lease for m in fetched)
            state.busy += len(fetched)
        fresh = [m for m in fetched if m.message_id not in held]
        admitted = fresh
        if self.broker.admit is not None and fresh:
            now = time.monotonic()
            for message in fresh:
                message.batch_admitted, message.admitted_at = True, now
            try:
                admitted = self.broker.admit(fresh)
            except Exception:
                log.exception("could not admit %d message(s) on %s", len(fetched), self.queue)
                admitted = []
                for message in fresh:
                    release_later(message, ADMIT_FAILURE_RELEASE_MS)
        self.cache.extend(admitted)
        keep = {id(m) for m in admitted}
        others = [m for m in fetched if id(m) not in keep]
        for message in others:
            if message.release_ms is None:
                self.ack(message)  # not to run (cancelled, finished, running elsewhere)
        self._release([m for m in others if m.release_ms is not None])
        for task_id, payload, member in junk:
            self._set_aside(task_id, payload, member)

    def _note_held(self, held: list[tuple[str, str]]) -> None:
        """Say in Postgres why these tasks wait (best effort: they wait all the same)."""
        if self.broker.note_held is None:
            return
        try:
            self.broker.note_held(held)
        except Exception:
            log.warning("could not record %d held-back task(s) on %s", len(held), self.queue)

    def _release(self, messages: list[Leased]) -> None:
        """Put messages back after their release_ms; if Redis refuses, drop them from this
        process's hold and their leases expire instead (a release after lease_seconds)."""
        for message in messages:
            try:
                self._settle_now("release", message, delay_ms=message.release_ms or 0)
            except ConnectionClosed:
                log.warning("could not release %s; its lease expires instead", message.message_id)
                self._drop([message])

    def _drop(self, messages: Sequence[Leased]) -> None:
        with self.state.cond:
            self.state.leased.difference_update(m.lease for m in messages)
            self.state.busy -= len(messages)
            self.state.cond.notify()

    def _idle(self, deadline: float, next_due_ms: int | None) -> bool:
        """Block until woken (True) or the idle timeout passes (False)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        timer = None
        if next_due_ms is not None:
            due = next_due_ms / 1000
            if due <= 0.001:
                return True  # due now: the next fetch promotes it
            if due < remaining:
                timer = threading.Timer(due, self._wake_self)
                timer.daemon = True
                timer.start()
        try:
            woke = self.broker.redis.wait(self.queue, self.owner, remaining, channel=self.channel)
        finally:
            if timer is not None:
                timer.cancel()
        return woke or time.monotonic() < deadline

    def _wake_self(self) -> None:
        try:
            self.broker.redis.wake_own(self.queue, self.owner)
        except redis.RedisError:
            log.debug("could not push a due-time wake-up on %s", self.queue)

    def _set_aside(self, task_id: str, payload: bytes, member: str) -> None:
        """Keep an undecodable message for a post-mortem and ack it (if Redis refuses, its
        lease expires, it comes back and is set aside then)."""
        record = {
            "queue": self.queue,
            "id": task_id,
            "at": time.time(),
            "data_base64": base64.b64encode(payload[:KEEP_BYTES]).decode(),
        }
        self.broker.redis.set_aside(json.dumps(record).encode())
        with self.state.cond:
            self.state.leased.add(member)  # until its ack is sent
            self.state.acks.append(member)
        log.warning("set aside an undecodable message on queue %s", self.queue)

    # -- called from worker threads ------------------------------------------------------------

    def ack(self, message: MessageProxy) -> None:
        """The worker is done with the message: its thread is free at once; the ack itself
        waits for the message's status write, if one is pending."""
        assert isinstance(message, Leased)
        if message.release_ms is not None:
            self._settle_now("release", message, delay_ms=message.release_ms)
            return
        with self.state.cond:
            self.state.busy -= 1
            if message.commit is not None:
                self.state.committing += 1
            self.state.cond.notify()
        if message.commit is not None:
            lease = message.lease
            message.commit.then(lambda _: self._acked(lease, committed=True))
        else:
            self._acked(message.lease)

    def _acked(self, lease: str, *, committed: bool = False) -> None:
        """Queue the ack for the consumer (its next fetch, or an ack of its own while every
        thread is busy); the lease is renewed until then."""
        state = self.state
        with state.cond:
            state.acks.append(lease)
            state.committing -= committed
            state.cond.notify_all()

    def nack(self, message: MessageProxy) -> None:
        assert isinstance(message, Leased)
        log.warning("message %s on %s set aside as dead", message.message_id, self.queue)
        self._settle_now("dead", message)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Put unstarted messages back in the ready set (a shutdown), claims undone first."""
        leased = [m for m in messages if isinstance(m, Leased)]
        admitted = [m for m in leased if m.batch_admitted and m.admitted is not None]
        if admitted and self.broker.give_back is not None:
            try:
                self.broker.give_back(admitted)
            except Exception:  # their tasks stay running until the reaper finds them
                log.exception("could not give back %d claimed task(s)", len(admitted))
        self._drop(leased)
        members, payloads = [m.lease for m in leased], [m.payload for m in leased]
        try:
            self.broker.redis.settle(self.queue, "requeue", members, payloads=payloads)
        except redis.RedisError as exc:  # their leases expire and they come back then
            raise ConnectionClosed(exc) from exc

    def close(self) -> None:
        """Give back what was claimed but not handed out, and send the pending acks (after the
        status writes they wait for)."""
        try:
            unhanded, self.cache = list(self.cache), deque()
            self.requeue(unhanded)
            with self.state.cond:
                self.state.cond.wait_for(lambda: self.state.committing <= 0, CLOSE_WAIT_SECONDS)
                acks, self.state.acks = self.state.acks, []
            self._send_acks(acks)
        except (ConnectionClosed, redis.RedisError):
            log.warning("could not settle leases on %s; they expire instead", self.queue)
        finally:
            self.channel.close()

    def _settle_now(self, mode: str, message: Leased, *, delay_ms: int = 0) -> None:
        """Settle one message now; its thread's accounting changes only once Redis has it
        (Dramatiq retries a failed ack, so a failed try must change nothing)."""
        payloads = [message.payload] if mode == "release" else []
        try:
            self.broker.redis.settle(
                self.queue, mode, [message.lease], delay_ms=delay_ms, payloads=payloads
            )
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from exc
        self._drop([message])

    def _send_acks(self, acks: list[str]) -> None:
        try:
            self.broker.redis.settle(self.queue, "ack", acks)
        except redis.RedisError:
            with self.state.cond:
                self.state.acks[:0] = acks  # the next fetch sends them
            raise
        self.state.sent(acks)


def make_broker(
    redis_at: str | RedisTarget,
    middleware: Sequence[Middleware] = (),
    *,
    aging_seconds: float = 60.0,
    lease_seconds: float = 15.0,
    prefetch: int | None = None,
) -> OffloadBroker:
    """An OffloadBroker with exactly the middleware given (Dramatiq's defaults are not added)."""
    return OffloadBroker(
        redis_at,
        middleware=middleware,
        aging_seconds=aging_seconds,
        lease_seconds=lease_seconds,
        prefetch=prefetch,
    )


def disconnect(broker: Broker) -> None:
    """Close the broker's Redis connections."""
    broker.close()
