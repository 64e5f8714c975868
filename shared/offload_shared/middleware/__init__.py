"""Dramatiq middleware shared by every worker."""

from offload_shared.middleware.status import (
    TaskStatusMiddleware,
    current_db,
    current_task,
    report_progress,
)

__all__ = ["TaskStatusMiddleware", "current_db", "current_task", "report_progress"]
