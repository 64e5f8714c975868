"""One scheduler at a time: a Postgres session advisory lock on a connection of its own.

If that connection dies the lock goes with it, and another replica takes over.
"""

from __future__ import annotations

import logging
import time

from offload_shared.db import Connection, Queries, connect, wrap_exceptions
from offload_shared.errors import OffloadError

log = logging.getLogger(__name__)

LOCK_KEY = 0x0FF10AD5  # "offload scheduler"
PACKAGE = "offload_scheduler"
query = Queries(PACKAGE)


class LeaderLock:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: Connection | None = None
        self._since: float | None = None  # time.monotonic() when this process took the lock

    def held_for(self) -> float:
        """Seconds this process has held the lock without a break (0 when it does not)."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    def ensure(self) -> bool:
        """True while this process is the leader; tries to become it otherwise."""
        try:
            if self._conn is not None:
                with wrap_exceptions():  # e.g. AdminShutdown when Postgres restarts
                    self._conn.execute("SELECT 1")
                return True
            conn = connect(self.database_url, application_name="offload-scheduler-leader")
            try:
                with wrap_exceptions():
                    row = conn.execute(query("try_leader_lock"), {"key": LOCK_KEY}).fetchone()
            except OffloadError:
                conn.close()
                raise
            if row and row["leader"]:
                self._conn = conn
                self._since = time.monotonic()
                log.info("this scheduler is now the leader")
                return True
            conn.close()
            return False
        except OffloadError as exc:
            if self._conn is not None:
                log.warning("lost the leader lock: %s", exc)
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # closing the session releases the lock
            except Exception:
                log.debug("leader connection already closed")
            self._conn = None
        self._since = None
