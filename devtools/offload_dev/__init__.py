"""Offload development tools.

- `run`: the `make run` supervisor (console script `offload-dev`).
- `embedded`: PostgreSQL and Redis for development and tests, local or embedded.
- `smtp_sink`: an SMTP server that logs one line per message (`python -m offload_dev.smtp_sink`).
- `procs`: child-process helpers (spawn, wait until ready, stop with a deadline).
"""
