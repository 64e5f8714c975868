"""store.id_range: a task-id prefix as a range of the primary key, exactly the ids whose text
starts with it (the task list's id filter, without an index of its own)."""

import uuid

import pytest

from offload_shared.store import id_range

ID = uuid.UUID("42f5ccaf-e1ef-4367-8f74-9e9cf301d109")


def matches(prefix: str, candidate: uuid.UUID) -> bool:
    low, high = id_range(prefix)
    return low <= candidate <= high


@pytest.mark.parametrize("length", range(1, 37))
def test_every_start_of_an_id_matches_it(length):
    assert matches(str(ID)[:length], ID)
    assert matches(str(ID)[:length].upper(), ID)


def test_the_range_holds_exactly_the_ids_starting_so():
    low, high = id_range("42f5cc")
    assert str(low) == "42f5cc00-0000-0000-0000-000000000000"
    assert str(high) == "42f5ccff-ffff-ffff-ffff-ffffffffffff"
    assert not matches("42f5cc", uuid.UUID("42f5cb" + "f" * 26))
    assert not matches("42f5cc", uuid.UUID("42f5cd" + "0" * 26))


@pytest.mark.parametrize("prefix", ["42f5-", "42f5ccafe", "42f5ccaf-e1ef-4367-8f74-9e9cf301d1090",
                                    "-", "42f5ccag"])  # fmt: skip
def test_a_prefix_no_id_starts_with_matches_nothing(prefix):
    low, high = id_range(prefix)
    assert low > high
