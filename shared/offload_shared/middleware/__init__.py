"""Dramatiq middleware shared by every worker."""

from offload_shared.middleware.status import TaskStatusMiddleware, current_context

__all__ = ["TaskStatusMiddleware", "current_context"]
