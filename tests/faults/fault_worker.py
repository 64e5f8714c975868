"""`python -m tests.faults.fault_worker`: a real Offload worker for the suite's `faults` queue.

The same entry point as every worker service (`offload_shared.worker.run_worker`): the Dramatiq
CLI with the configured processes, threads and shutdown bound, importing the test actors.
"""

from offload_shared.worker import run_worker

if __name__ == "__main__":
    run_worker("tests.faults.fault_actors", queue="faults")
