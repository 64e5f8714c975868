"""The one error tree. Nothing from psycopg or redis leaks out of `offload_shared`.

    OffloadError (Exception)           every error Offload raises on purpose
    ├── Unavailable                    a backing service could not be reached      (API: 503)
    │   ├── StoreUnavailable           Postgres (also a StoreError)
    │   ├── BrokerUnavailable          Redis
    │   └── AtCapacity                 a bounded resource is full; `retry_after` s
    ├── StoreError                     Postgres refused or failed a statement      (API: 500)
    ├── NotFound                       nothing of that id for the caller's tenant  (API: 404)
    │   ├── TaskNotFound
    │   ├── ArtifactNotFound           the task produced no file (yet)
    │   ├── SnapshotNotFound           no analytics snapshot of that kind yet
    │   └── ScheduleNotFound
    ├── Conflict                       the request does not fit the current state  (API: 409)
    │   ├── TaskConflict               e.g. cancelling a finished task
    │   └── ScheduleConflict           a schedule of that name exists for the tenant
    ├── InvalidRequest                 the request itself is wrong                 (API: 422)
    │   └── UnknownTask                the task name is not in the catalog
    ├── Unauthenticated                no key, or not a live one                   (API: 401)
    ├── Forbidden                      the key lacks the route's scope             (API: 403)
    ├── TooManyRequests                a rate limit is spent; `retry_after` s      (API: 429)
    ├── ConfigError                    a setting is missing or malformed: the service stops
    └── TaskOutcome                    raised by task code to decide its attempt's outcome
        ├── PermanentTaskError         fail now: retrying cannot help
        │   └── TemplateRenderError
        └── RetryLater                 retry, in N seconds or after the policy's backoff
                                       (SMTP 4xx, a source's 503, a DNS failure, ...)

    Interrupt (BaseException)          injected into a running task's thread, like Dramatiq's
    ├── TaskCancelled                  own Interrupt, so that an `except Exception` in task
    └── WorkerShutdown                 code cannot swallow it

The API maps the bases to status codes (offload_api/errors.py), never the leaves. Messages name
what is wrong, never a secret or a parameter's value.
"""

from __future__ import annotations

import math

__all__ = [
    "ArtifactNotFound",
    "AtCapacity",
    "BrokerUnavailable",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "Interrupt",
    "InvalidRequest",
    "NotFound",
    "OffloadError",
    "PermanentTaskError",
    "RetryLater",
    "ScheduleConflict",
    "ScheduleNotFound",
    "SnapshotNotFound",
    "StoreError",
    "StoreUnavailable",
    "TaskCancelled",
    "TaskConflict",
    "TaskNotFound",
    "TaskOutcome",
    "TemplateRenderError",
    "TooManyRequests",
    "Unauthenticated",
    "Unavailable",
    "UnknownTask",
    "WorkerShutdown",
]


class OffloadError(Exception):
    """Root of every error Offload raises on purpose."""


class Unavailable(OffloadError):
    """A backing service (Postgres, Redis) could not be reached; worth retrying later."""


class StoreError(OffloadError):
    """Postgres refused or failed a statement.

    `sqlstate` is Postgres's error code (None when the driver refused before sending, e.g. a
    value it cannot convert); `kind` the driver's name for the error (ReadOnlySqlTransaction,
    QueryCanceled, ...). Neither ever carries the statement or its values.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None, kind: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.kind = kind


class StoreUnavailable(StoreError, Unavailable):
    """Postgres could not be reached."""


class BrokerUnavailable(Unavailable):
    """Redis could not be reached or refused a command."""


class AtCapacity(Unavailable):
    """This process already serves as many of something (event streams) as it may: worth
    retrying after `retry_after` seconds (at least 1)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class NotFound(OffloadError):
    """Nothing of that id belongs to the caller's tenant."""


class TaskNotFound(NotFound):
    """No task with that id belongs to the caller's tenant."""


class ArtifactNotFound(NotFound):
    """The task has no file (it is not a report, or has not produced it yet)."""


class SnapshotNotFound(NotFound):
    """No analytics snapshot of that kind has been computed yet."""


class ScheduleNotFound(NotFound):
    """No schedule with that id belongs to the caller's tenant."""


class Conflict(OffloadError):
    """The request does not fit the current state of what it names."""


class TaskConflict(Conflict):
    """The task is in a status that does not allow the requested transition."""


class ScheduleConflict(Conflict):
    """The tenant already has a schedule of that name."""


class InvalidRequest(OffloadError):
    """The request itself is wrong (beyond what the schemas check)."""


class UnknownTask(InvalidRequest):
    """The task name is not in the catalog."""


class Unauthenticated(OffloadError):
    """The request has no API key, or not a live one (the message never echoes the key)."""


class Forbidden(OffloadError):
    """The API key is live but lacks the scope the route needs (the message names it)."""


class TooManyRequests(OffloadError):
    """A rate limit is spent: worth retrying after `retry_after` seconds (at least 1)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class ConfigError(OffloadError):
    """An environment variable is missing or malformed (the message names it, never its value)."""


class TaskOutcome(OffloadError):
    """Raised by task code to decide how its attempt ends."""


class PermanentTaskError(TaskOutcome):
    """A failure that retrying cannot fix: the task fails at once."""


class TemplateRenderError(PermanentTaskError):
    """An email template could not be rendered with the given context (retrying cannot help)."""


class RetryLater(TaskOutcome):
    """The one way for task code to say "try again later": in `delay_seconds`, or after the
    task type's backoff (catalog RetryPolicy) if None. It spends a retry like any failure;
    out of retries, the task fails with this message."""

    def __init__(self, message: str = "", *, delay_seconds: float | None = None) -> None:
        super().__init__(message)
        self.delay_seconds = delay_seconds


class Interrupt(BaseException):  # named like dramatiq.middleware.Interrupt
    """Raised inside a running task's thread from outside it (or at its checkpoint). Not an
    Exception, so task code's `except Exception` lets it through."""


class TaskCancelled(Interrupt):
    """A cancel was requested (raised at a checkpoint, or by the hard abort after the grace
    period): the task ends `cancelled`."""


class WorkerShutdown(Interrupt):
    """The worker's shutdown bound ran out while the task ran: it is requeued, no retry spent."""
