"""Dramatiq middleware shared by every worker."""

from offload_shared.middleware.status import TaskStatusMiddleware, run_task

__all__ = ["TaskStatusMiddleware", "run_task"]
