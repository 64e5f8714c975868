"""`offload-api`: serve the API with gunicorn (gthread workers) on API_PORT."""

from __future__ import annotations

import os
import sys

from offload_shared.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    argv = [
        gunicorn,
        f"--bind={settings.api_host}:{settings.api_port}",
        f"--workers={settings.api_workers}",
        f"--threads={settings.api_threads}",
        "--worker-class=gthread",
        "--access-logfile=-",
        "--no-control-socket",
        "offload_api.wsgi:app",
    ]
    os.execv(gunicorn, argv)  # noqa: S606 - replaces this process with gunicorn
