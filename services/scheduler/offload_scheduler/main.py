"""`offload-scheduler`: schedules, the outbox relay, the reaper and housekeeping, run by one
leader.

Run several replicas for availability: only the holder of the leader lock works; the others
wait and take over within a few seconds if it dies.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType

from offload_scheduler.leader import LeaderLock
from offload_scheduler.reaper import housekeeping, reap_once
from offload_scheduler.reconcile import Reconciler
from offload_scheduler.relay import relay_once
from offload_shared import gauges, logs, probe
from offload_shared.artifacts import PostgresArtifacts
from offload_shared.broker import make_broker
from offload_shared.db import Database
from offload_shared.errors import BrokerUnavailable, OffloadError
from offload_shared.outbox import OutboxSweeper
from offload_shared.publisher import Publisher
from offload_shared.schedule_firing import fire_due
from offload_shared.settings import Settings, load_or_exit
from offload_shared.store import TaskStore

log = logging.getLogger("offload_scheduler")

FOLLOWER_POLL_SECONDS = 2.0
HOUSEKEEPING_SECONDS = 60.0


class Scheduler:
    def __init__(self, settings: Settings, beacon: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.beacon = beacon  # the health port's sign of life: one touch per turn of the loop
        # One connection for the loop, one for the outbox sweeper.
        self.db = Database(settings.database_url, max_size=3, application_name="offload-scheduler")
        self.store = TaskStore(self.db)
        broker = make_broker(settings.redis, aging_seconds=settings.priority_aging_seconds)
        broker.redis.warn_if_evicting()
        # The sweeper deletes the outbox rows of the tasks schedules fired once they are
        # published, as the API's does: the relay need not publish them again.
        self.publisher = Publisher(broker, OutboxSweeper(self.db))
        self.reconciler = Reconciler(
            self.db, broker.redis, self.publisher, window_seconds=settings.republish_after_seconds
        )
        self._redis_away = False
        self.leader = LeaderLock(settings.database_url)
        self.artifacts = PostgresArtifacts(self.db, ttl=timedelta(days=settings.artifact_ttl_days))
        self.grace = timedelta(seconds=settings.schedule_misfire_grace_seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        next_reap = next_housekeeping = 0.0
        while not self.stop.is_set():
            if self.beacon is not None:
                self.beacon()
            if not self.leader.ensure():
                self.stop.wait(FOLLOWER_POLL_SECONDS)
                continue
            now = time.monotonic()
            more = self._reconcile()
            try:
                fire_due(self.db, self.publisher, grace=self.grace)
            except OffloadError as exc:
                log.warning("firing schedules failed: %s", exc)
            try:
                relay_once(self.db, self.publisher)
                # Judge workers only after a whole lost-worker window as leader: right after
                # taking the lock (a Postgres restart cuts every session) live workers have not
                # had the chance to beat again, and their running tasks would be run twice.
                judged = self.leader.held_for() >= self.settings.worker_lost_seconds
                if judged and now >= next_reap:
                    reap_once(self.store, lost_seconds=self.settings.worker_lost_seconds)
                    next_reap = now + self.settings.reaper_interval_seconds
                if now >= next_housekeeping:
                    housekeeping(self.db, idempotency_ttl_hours=self.settings.idempotency_ttl_hours)
                    self.artifacts.delete_expired(limit=1_000)
                    next_housekeeping = now + HOUSEKEEPING_SECONDS
            except OffloadError as exc:
                log.warning("scheduler pass failed: %s", exc)
            self.stop.wait(0 if more else self.settings.relay_interval_seconds)
        self.close()

    def _reconcile(self) -> bool:
        """One reconciliation pass; True if a rebuild of Redis goes on (next batch at once)."""
        try:
            self.reconciler.run_once()
        except BrokerUnavailable as exc:
            if not self._redis_away:
                log.warning("reconciliation paused: %s", exc)
            self._redis_away = True
            return False
        except OffloadError as exc:
            log.warning("reconciliation pass failed: %s", exc)
            return False
        self._redis_away = False
        return self.reconciler.rebuilding is not None

    def close(self) -> None:
        self.leader.release()
        self.db.close()
        self.publisher.close()


def main() -> None:
    settings = load_or_exit("offload-scheduler")
    logs.configure("scheduler", settings.log_format, settings.log_level)
    beacon = None
    if settings.health_port:
        beacons = probe.start(
            settings.health_port,
            expected=1,
            stale_after=settings.health_stale_seconds,
            metrics=gauges.scrape(settings),
        )
        beacon = functools.partial(beacons.touch, "scheduler")
    scheduler = Scheduler(settings, beacon)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        scheduler.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started (Redis %s)", settings.redis.describe())  # password hidden
    scheduler.run()
    log.info("scheduler stopped")
