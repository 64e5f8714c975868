"""The `offload` command's exit codes (what scripts rely on) and the one error that carries one.

0  success
1  the API or Postgres answered with an error (4xx/5xx, not found, conflict, refused input)
2  usage error: an unknown command or option, a missing or malformed argument (Click's)
3  the API or Postgres cannot be reached
4  --wait: the task ended failed or cancelled
5  --wait: the deadline passed before the task finished
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["EXIT_CODES_HELP", "CliFailure", "Exit"]


class Exit(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    UNREACHABLE = 3
    TASK_FAILED = 4
    TIMED_OUT = 5


EXIT_CODES_HELP = """Exit codes:
  0  success
  1  the API or Postgres answered with an error (4xx/5xx, not found, conflict)
  2  usage error (an unknown command or option, a bad argument)
  3  the API or Postgres cannot be reached
  4  --wait: the task ended failed or cancelled
  5  --wait: the deadline passed first"""


class CliFailure(Exception):
    """Ends the command: `message` on stderr (never a traceback), exit status `code`."""

    def __init__(self, message: str, code: Exit = Exit.ERROR) -> None:
        super().__init__(message)
        self.code = code
