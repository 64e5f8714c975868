"""The one error tree. Nothing from psycopg or redis leaks out of `offload_shared`."""

from __future__ import annotations


class OffloadError(Exception):
    """Root of every error Offload raises on purpose."""


class ConfigError(OffloadError):
    """An environment variable is missing or malformed (the message names it, never its value)."""


class StoreError(OffloadError):
    """Postgres refused or failed a statement."""


class StoreUnavailable(StoreError):
    """Postgres could not be reached."""


class BrokerUnavailable(OffloadError):
    """Redis could not be reached or refused a command."""


class TaskNotFound(OffloadError):
    """No task with that id belongs to the caller's tenant."""


class TaskConflict(OffloadError):
    """The task is in a status that does not allow the requested transition."""


class UnknownTask(OffloadError):
    """The task name is not in the catalog."""


class TaskCancelled(OffloadError):
    """Raised at a task's checkpoint when a cancel was requested: the task ends `cancelled`."""


class PermanentTaskError(OffloadError):
    """Raised by task code for a failure that retrying cannot fix: the task fails at once."""


class TemplateRenderError(PermanentTaskError):
    """An email template could not be rendered with the given context (retrying cannot help)."""


class WorkerShutdown(OffloadError):
    """Raised in a task still running when its worker's shutdown bound runs out: requeued."""
