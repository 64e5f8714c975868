"""`offload-email-worker`: a Dramatiq process consuming only the `email` queue."""

from offload_shared.worker import run_worker


def main() -> None:
    run_worker("offload_email_worker.actors", queue="email")
