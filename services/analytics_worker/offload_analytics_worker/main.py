"""`offload-analytics-worker`: a Dramatiq process consuming only the `analytics` queue."""

from offload_shared.worker import run_worker


def main() -> None:
    run_worker("offload_analytics_worker.actors", queue="analytics")
