"""Which items of a metrics document are stored, under which id and team, with which digest."""

import pytest

from offload_analytics_worker import metric_items
from offload_shared.errors import PermanentTaskError


def ids(parsed):
    return [(i.external_id, i.team_id) for i in parsed.items]


@pytest.mark.parametrize(
    "payload",
    [[{"id": 1}], {"metrics": [{"id": 1}]}, {"metrics": [{"id": 1}], "next": None}],
    ids=["list", "metrics-object", "metrics-object-with-extras"],
)
def test_a_list_or_a_metrics_object_is_accepted(payload):
    parsed = metric_items.parse(payload)
    assert (parsed.fetched, ids(parsed)) == (1, [("1", None)])


@pytest.mark.parametrize("payload", [{"id": 1}, {"data": []}, "text", 3, None, {"metrics": {}}])
def test_any_other_document_is_refused_permanently(payload):
    with pytest.raises(PermanentTaskError, match="JSON list"):
        metric_items.parse(payload)


def test_ids_are_strings_or_integers_and_anything_else_is_invalid():
    payload = [
        {"id": "a-1"},
        {"id": 42},
        {"id": True},
        {"id": 1.5},
        {"id": ""},
        {"id": "  "},
        {"id": None},
        {"id": "x" * 201},
        {"no_id": 1},
        "not an object",
        {"id": "nul", "note": "a\x00b"},
        {"id": "nul-key", "a\x00": 1},
    ]
    parsed = metric_items.parse(payload)
    assert ids(parsed) == [("a-1", None), ("42", None)]
    assert parsed.skipped == {"invalid": 10}
    assert parsed.fetched == 12


def test_the_same_id_as_text_or_number_is_one_item_and_the_last_occurrence_wins():
    parsed = metric_items.parse([{"id": 7, "v": 1}, {"id": "8"}, {"id": "7", "v": 2}])
    assert [(i.external_id, i.data.get("v")) for i in parsed.items] == [
        ("8", None),
        ("7", 2),
    ]
    assert parsed.skipped == {"duplicate": 1}


def test_without_a_team_parameter_items_keep_their_own_team():
    parsed = metric_items.parse([{"id": 1, "team_id": "red"}, {"id": 2, "team_id": 5}, {"id": 3}])
    assert ids(parsed) == [("1", "red"), ("2", "5"), ("3", None)]


def test_a_team_parameter_skips_other_teams_and_labels_items_without_one():
    parsed = metric_items.parse(
        [{"id": 1, "team_id": "red"}, {"id": 2, "team_id": "blue"}, {"id": 3}], team_id="red"
    )
    assert ids(parsed) == [("1", "red"), ("3", "red")]
    assert parsed.skipped == {"other_team": 1}
    assert parsed.items[1].data == {"id": 3}  # the stored data is the item as fetched


def test_a_team_id_that_is_not_a_string_or_integer_makes_the_item_invalid():
    parsed = metric_items.parse([{"id": 1, "team_id": ["red"]}, {"id": 2, "team_id": False}])
    assert (parsed.items, parsed.skipped) == ([], {"invalid": 2})


def test_the_digest_ignores_key_order_but_not_content():
    a = metric_items.digest({"id": 1, "value": 2.5, "tags": ["x"]})
    assert a == metric_items.digest({"tags": ["x"], "value": 2.5, "id": 1})
    assert a != metric_items.digest({"id": 1, "value": 2.6, "tags": ["x"]})
    assert len(a) == 64


def test_an_item_nested_too_deep_to_hash_is_invalid_not_a_crash():
    deep: list = []
    node = deep
    for _ in range(5_000):
        node.append([])
        node = node[0]
    parsed = metric_items.parse([{"id": 1, "deep": deep}, {"id": 2}])
    assert ids(parsed) == [("2", None)]
    assert parsed.skipped == {"invalid": 1}
