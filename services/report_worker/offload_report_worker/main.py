"""`offload-report-worker`: a Dramatiq process consuming only the `reports` queue."""

from offload_shared.worker import run_worker


def main() -> None:
    run_worker("offload_report_worker.actors", queue="reports", service="report-worker")
