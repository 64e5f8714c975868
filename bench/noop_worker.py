"""`python -m bench.noop_worker`: a worker service for the `bench` queue."""

from offload_shared.worker import run_worker

if __name__ == "__main__":
    run_worker("bench.noop_actors", queue="bench")
