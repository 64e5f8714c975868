"""Run what a StubBroker holds to completion on an in-process worker."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker


def drain(broker: StubBroker, queue: str) -> None:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        broker.join(queue)
        worker.join()
    finally:
        worker.stop()
