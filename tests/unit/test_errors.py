"""The error tree's promises: interrupts get past task code's `except Exception`, and every
leaf sits under the base the API maps to its status code."""

import pytest

from offload_api.errors import STATUS_FOR
from offload_shared import errors


@pytest.mark.parametrize("interrupt", [errors.TaskCancelled, errors.WorkerShutdown])
def test_an_interrupt_is_not_swallowed_by_except_exception(interrupt):
    def task_code():
        try:
            raise interrupt("injected into the thread")
        except Exception:  # what careless task code does
            return "swallowed"

    with pytest.raises(interrupt):
        task_code()


@pytest.mark.parametrize(
    ("leaf", "status"),
    [
        (errors.TaskNotFound, 404),
        (errors.ArtifactNotFound, 404),
        (errors.SnapshotNotFound, 404),
        (errors.TaskConflict, 409),
        (errors.UnknownTask, 422),
        (errors.StoreUnavailable, 503),
        (errors.BrokerUnavailable, 503),
    ],
)
def test_the_api_maps_each_leaf_through_its_base(leaf, status):
    assert next(code for base, code in STATUS_FOR if issubclass(leaf, base)) == status
    assert leaf not in {base for base, _ in STATUS_FOR}  # the bases are mapped, not the leaves


def test_a_postgres_outage_is_still_a_store_error():
    assert issubclass(errors.StoreUnavailable, errors.StoreError)
